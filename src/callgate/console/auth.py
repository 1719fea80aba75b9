"""Who may use the console: the admin token, sessions, CSRF, loopback.

An operator logs in with a name and the admin token (a POSTed form: the token never
travels in a URL). A good login opens a session: a random id in an HttpOnly,
SameSite=Strict cookie scoped to the console's path, and a CSRF token of its own that
every state-changing request must carry (a form field or the `X-CSRF-Token` header, as
htmx sends it). The login form itself is guarded by a double-submit nonce: a cookie and a
hidden field that must agree. Sessions live in this process and end after `SESSION_TTL`
or at logout. Agent tokens open nothing here: only the admin token is compared.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from starlette.requests import Request

from callgate.transports.security import is_loopback

SESSION_COOKIE = "callgate_console"
LOGIN_COOKIE = "callgate_console_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = 12 * 3600.0
MAX_SESSIONS = 1000


@dataclass(frozen=True, slots=True)
class Session:
    """One logged-in operator: who, the CSRF token of their forms, and until when."""

    id: str
    name: str
    csrf: str
    expires_at: float


@dataclass
class ConsoleAuth:
    """Checks the admin token and keeps the console's sessions."""

    token: str
    allow_remote: bool = False
    sessions: dict[str, Session] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("the console needs a non-empty admin token")
        self._expected = hashlib.sha256(self.token.encode()).digest()

    def token_matches(self, given: str) -> bool:
        """Whether `given` is the admin token (constant time)."""
        digest = hashlib.sha256(given.encode()).digest()
        return hmac.compare_digest(digest, self._expected)

    def client_allowed(self, request: Request) -> bool:
        """Loopback clients always; others only with `allow_remote`."""
        return self.allow_remote or is_loopback_client(request)

    def open_session(self, name: str, now: float) -> Session:
        """A new session for operator `name`."""
        self._forget_expired(now)
        if len(self.sessions) >= MAX_SESSIONS:
            oldest = min(self.sessions.values(), key=lambda s: s.expires_at)
            del self.sessions[oldest.id]
        session = Session(
            id=secrets.token_urlsafe(32),
            name=name,
            csrf=secrets.token_urlsafe(32),
            expires_at=now + SESSION_TTL,
        )
        self.sessions[session.id] = session
        return session

    def session_of(self, request: Request, now: float) -> Session | None:
        """The live session the request's cookie names, if any."""
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if session is None or now >= session.expires_at:
            return None
        return session

    def close_session(self, session: Session) -> None:
        """Log out."""
        self.sessions.pop(session.id, None)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, s in self.sessions.items() if now >= s.expires_at]:
            del self.sessions[key]


def csrf_matches(session: Session, given: str | None) -> bool:
    """Whether a request carried the session's CSRF token (constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())


def new_nonce() -> str:
    """A random value for the login form's double submit."""
    return secrets.token_urlsafe(24)


def is_loopback_client(request: Request) -> bool:
    """Whether the request comes from this machine."""
    return request.client is not None and is_loopback(request.client.host)
