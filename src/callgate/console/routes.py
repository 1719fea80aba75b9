"""The console's pages and actions (Starlette), behind the checks of `auth`.

Paths, relative to where the console is mounted (`/console`):

    GET  /login, POST /login, POST /logout
    GET  /approvals                      the inbox; POST /approvals/{id}/decide
    GET  /events/approvals               SSE: requests appearing and settling, the count
    GET  /decisions                      the live decisions; GET /events/decisions (SSE)
    GET  /record?seq=N&time=T            one audit record in full
    GET  /tools, /limits, /policy
    GET  /audit, /audit/export?format=jsonl|csv, /audit/verify
    GET  /static/...                     CSS, htmx, console.js (no login needed)

Every other request needs a session (pages redirect to the login form; streams and
actions answer 401), every POST the session's CSRF token, every request a loopback client
(unless remote clients are allowed) and a Host and Origin the host policy accepts.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypedDict
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from callgate.approvals.broker import approve, deny
from callgate.approvals.model import Approval, GrantScope, Status
from callgate.approvals.store import ApprovalConflict, ApprovalNotFound
from callgate.audit.query import FIELDS, RecordFilter, parse_time
from callgate.audit.reading import last_records, query
from callgate.audit.record import format_time
from callgate.console import pages
from callgate.console.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL,
    ConsoleAuth,
    Session,
    csrf_matches,
    new_nonce,
)
from callgate.console.sources import ConsoleSources
from callgate.console.streams import approval_frames, decision_frames
from callgate.console.views import (
    DECISIONS,
    SHADOW_DECISIONS,
    ApprovalCard,
    settled_message,
    view_approval,
    view_record,
    view_risk,
)
from callgate.state.store import StoreUnavailable
from callgate.transports.security import HostPolicy

CHANNEL = "console"
INBOX_LIMIT = 200
DECISIONS_SHOWN = 100
SEARCH_SHOWN = 500
STREAM_OVERLAP = 5.0
"""Seconds before a decisions page was made from which its stream starts."""
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request, Session], Awaitable[Response]]


def build_console_app(
    sources: ConsoleSources,
    *,
    token: str,
    allow_remote: bool = False,
    host_policy: HostPolicy | None = None,
) -> ASGIApp:
    """The console over `sources`, opened by the admin `token` (mount it at `/console`);
    `host_policy` checks Host and Origin when the server mounting it does not."""
    auth = ConsoleAuth(token, allow_remote)
    templates = Environment(
        loader=PackageLoader("callgate.console", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    console = _Console(sources, auth, templates)
    static = resources.files("callgate.console") / "static"
    routes: list[BaseRoute] = [
        Route("/", console.home),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.guarded(console.logout), methods=["POST"]),
        Route("/approvals", console.guarded(console.approvals)),
        Route("/approvals/{id}/decide", console.guarded(console.decide), methods=["POST"]),
        Route("/events/approvals", console.guarded(console.approval_events)),
        Route("/decisions", console.guarded(console.decisions)),
        Route("/events/decisions", console.guarded(console.decision_events)),
        Route("/record", console.guarded(console.record)),
        Route("/tools", console.guarded(console.tools)),
        Route("/limits", console.guarded(console.limits)),
        Route("/audit", console.guarded(console.audit)),
        Route("/audit/export", console.guarded(console.export)),
        Route("/audit/verify", console.guarded(console.verify)),
        Route("/policy", console.guarded(console.policy)),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]
    app = Starlette(routes=routes)
    return _Guard(app, auth, host_policy)


class _Guard:
    """Host/Origin (DNS rebinding), loopback, and the security headers on every answer.

    Without a host policy the Host/Origin check is the caller's (the HTTP listener checks
    every request to its mounts with its own).
    """

    def __init__(self, app: ASGIApp, auth: ConsoleAuth, host_policy: HostPolicy | None) -> None:
        self.app = app
        self.auth = auth
        self.host_policy = host_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refusal = None
        if self.host_policy is not None:
            refusal = self.host_policy.check(
                request.headers.get("host"), request.headers.get("origin")
            )
        if refusal is not None:
            await _plain(refusal.status, refusal.reason)(scope, receive, send)
            return
        if not self.auth.client_allowed(request):
            answer = _plain(403, "the console only serves loopback clients")
            await answer(scope, receive, send)
            return

        async def secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_SECURITY_RAW)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)


def _plain(status: int, text: str) -> Response:
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8")


def _base(request: Request) -> str:
    """Where the console is mounted (`/console`), for links and the cookie path."""
    return str(request.scope.get("root_path", "")).rstrip("/")


class _Console:
    """The handlers, over one set of sources."""

    def __init__(self, sources: ConsoleSources, auth: ConsoleAuth, templates: Environment) -> None:
        self.sources = sources
        self.auth = auth
        self.templates = templates

    # Rendering and access ---------------------------------------------------------------

    def page(self, request: Request, name: str, session: Session | None, **context: Any) -> str:
        template = self.templates.get_template(name)
        return template.render(base=_base(request), session=session, **context)

    async def respond(
        self, request: Request, name: str, session: Session, status: int = 200, **context: Any
    ) -> Response:
        waiting = await self._waiting()
        html = self.page(request, name, session, waiting=waiting, **context)
        return HTMLResponse(html, status_code=status)

    async def _waiting(self) -> int | None:
        try:
            return len(await self.sources.approvals.list({Status.REQUESTED}, limit=INBOX_LIMIT))
        except StoreUnavailable:
            return None

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """`handler` for logged-in operators only; a POST must carry the CSRF token."""

        async def endpoint(request: Request) -> Response:
            session = self.auth.session_of(request, self.sources.clock())
            if session is None:
                if request.method == "GET" and "hx-request" not in request.headers:
                    return RedirectResponse(f"{_base(request)}/login", status_code=303)
                return _plain(401, "log in to the console first")
            if request.method == "POST":
                form = await request.form()
                given = request.headers.get(CSRF_HEADER) or _field(form, CSRF_FIELD)
                if not csrf_matches(session, given):
                    return _plain(403, "missing or wrong CSRF token: reload the page")
            return await handler(request, session)

        return endpoint

    # Login ------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{_base(request)}/approvals", status_code=303)

    async def login_form(
        self, request: Request, error: str = "", status: int = 200, name: str = ""
    ) -> Response:
        nonce = new_nonce()
        html = self.page(request, "login.jinja", None, nonce=nonce, error=error, operator=name)
        response = HTMLResponse(html, status_code=status)
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            path=_base(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or _field(form, CSRF_FIELD) != nonce:
            return await self.login_form(request, "The login form expired: try again.", 403)
        name = (_field(form, "name") or "").strip()[:64]
        if not self.auth.token_matches(_field(form, "token") or ""):
            return await self.login_form(request, "Wrong admin token.", 401, name)
        if not name:
            return await self.login_form(request, "Give your name: approvals record it.", 400)
        session = self.auth.open_session(name, self.sources.clock())
        response = RedirectResponse(f"{_base(request)}/approvals", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session.id,
            max_age=int(SESSION_TTL),
            path=_base(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path=_base(request) or "/")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        self.auth.close_session(session)
        response = RedirectResponse(f"{_base(request)}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=_base(request) or "/")
        return response

    # Approvals --------------------------------------------------------------------------

    async def card(
        self, approval: Approval, recent_cache: dict[str, list[dict[str, Any]]] | None = None
    ) -> ApprovalCard:
        request = approval.request
        cache = recent_cache if recent_cache is not None else {}
        if request.agent not in cache:
            cache[request.agent] = self.sources.recent_calls(request.agent)
        classification = self.sources.classify(request.server, request.tool)
        return view_approval(
            approval,
            now=self.sources.clock(),
            redactor=self._redactor(),
            risk=view_risk(classification, request.category),
            recent=cache[request.agent],
        )

    def _redactor(self) -> Any:
        from callgate.audit.redaction import DEFAULT_REDACTOR  # noqa: PLC0415

        try:
            return self.sources.policy.current().audit_recording.redactor
        except Exception:
            return DEFAULT_REDACTOR  # no valid policy: redact by the defaults

    def card_html(self, request: Request, session: Session, card: ApprovalCard, note: str) -> str:
        template = self.templates.get_template("_approval.jinja")
        return template.render(base=_base(request), session=session, card=card, note=note)

    async def approvals(self, request: Request, session: Session) -> Response:
        try:
            pending = await self.sources.approvals.list({Status.REQUESTED}, limit=INBOX_LIMIT)
        except StoreUnavailable as error:
            return await self.respond(
                request, "approvals.jinja", session, 503, cards=[], error=str(error)
            )
        cache: dict[str, list[dict[str, Any]]] = {}
        cards = [await self.card(approval, cache) for approval in pending]
        return await self.respond(request, "approvals.jinja", session, cards=cards, error="")

    async def decide(self, request: Request, session: Session) -> Response:
        form = await request.form()
        approval_id = request.path_params["id"]
        action = _field(form, "action") or ""
        reason = (_field(form, "reason") or "").strip()
        now = self.sources.clock()
        mine = True
        said = _Said(by=session.name, channel=CHANNEL, now=now, reason=reason)
        try:
            if action == "deny":
                if not reason:
                    return _plain(400, "a denial needs a reason (the agent is shown it)")
                settled = await deny(
                    self.sources.approvals, approval_id, **said, events=self.sources.events
                )
            elif action in ("once", "session", "minutes"):
                scope, seconds = _grant(action, _field(form, "minutes"))
                if scope is None:
                    return _plain(400, "approve for a whole number of minutes, 1 or more")
                settled = await approve(
                    self.sources.approvals,
                    approval_id,
                    **said,
                    scope=scope,
                    for_seconds=seconds,
                    events=self.sources.events,
                )
            else:
                return _plain(400, f"unknown action {action!r}")
        except ApprovalNotFound as error:
            return _plain(404, str(error))
        except ApprovalConflict as conflict:
            settled, mine = conflict.current, False
        except StoreUnavailable as error:
            return _plain(503, f"the approval store is unreachable: {error}")
        if "hx-request" not in request.headers:
            return RedirectResponse(f"{_base(request)}/approvals", status_code=303)
        card = await self.card(settled)
        note = settled_message(settled, mine=mine)
        status = 200 if mine else 409
        html = self.card_html(request, session, card, note)
        # htmx swaps 409 answers too (see console.js): the loser reads who answered first.
        return HTMLResponse(html, status_code=status)

    async def approval_events(self, request: Request, session: Session) -> Response:
        shown = set(request.query_params.get("shown", "").split(",")) - {""}

        async def render(approval: Approval) -> str:
            card = await self.card(approval)
            note = ""
            if approval.status is not Status.REQUESTED:
                resolution = approval.resolution
                mine = (
                    resolution is not None
                    and resolution.by == session.name
                    and resolution.channel == CHANNEL
                )
                note = settled_message(approval, mine=mine)
            return self.card_html(request, session, card, note)

        cards = "count" not in request.query_params
        frames = approval_frames(self.sources.approvals, render, shown=shown, cards=cards)
        return StreamingResponse(frames, media_type="text/event-stream", headers=_SSE)

    # Decisions and records --------------------------------------------------------------

    async def decisions(self, request: Request, session: Session) -> Response:
        wanted = _decision_filter(request)
        rows = []
        if self._audit_exists():
            assert self.sources.audit_path is not None
            records = last_records(self.sources.audit_path, DECISIONS_SHOWN, wanted)
            rows = [view_record(r) for r in reversed(records) if r.get("decision")]
        return await self.respond(
            request,
            "decisions.jinja",
            session,
            rows=rows,
            chosen=_chosen(request, ("tool", "agent", "decision")),
            decisions=DECISIONS,
            shadow_decisions=SHADOW_DECISIONS,
            has_audit=self._audit_exists(),
            stream_query=_with_since(request, self.sources.clock()),
        )

    async def decision_events(self, request: Request, session: Session) -> Response:
        wanted = _decision_filter(request)
        if not self._audit_exists():
            return _plain(404, "no audit log to follow")
        assert self.sources.audit_path is not None
        row = self.templates.get_template("_decision_row.jinja")

        def render(record: dict[str, Any]) -> str:
            return row.render(base=_base(request), row=view_record(record))

        since = request.query_params.get("since", "")
        frames = decision_frames(self.sources.audit_path, wanted, render, since=since or None)
        return StreamingResponse(frames, media_type="text/event-stream", headers=_SSE)

    async def record(self, request: Request, session: Session) -> Response:
        stamp = request.query_params.get("time", "")
        seq = request.query_params.get("seq", "")
        found: dict[str, Any] | None = None
        if stamp and self._audit_exists():
            assert self.sources.audit_path is not None
            # Records of that very millisecond only: the time range skips whole files.
            wanted = RecordFilter(since=stamp, until=stamp + "\uffff")
            for candidate in query(self.sources.audit_path, wanted, tag_writer=True):
                if str(candidate.get("seq")) == seq:
                    found = candidate
                    break
        return await self.respond(
            request,
            "record.jinja",
            session,
            404 if found is None else 200,
            record=found,
            row=view_record(found) if found else None,
            text=json.dumps(found, indent=2, ensure_ascii=False) if found else "",
        )

    def _audit_exists(self) -> bool:
        path = self.sources.audit_path
        return path is not None and path.exists()

    # Tools, limits, policy --------------------------------------------------------------

    async def tools(self, request: Request, session: Session) -> Response:
        state = self.sources.policy.check()
        try:
            policy = self.sources.policy.current()
        except Exception:
            policy = None
        servers = pages.tool_views(self.sources, policy)
        return await self.respond(
            request, "tools.jinja", session, servers=servers, policy_errors=state.errors
        )

    async def limits(self, request: Request, session: Session) -> Response:
        try:
            policy = self.sources.policy.current()
        except Exception:
            policy = None
        limits = await pages.limit_views(self.sources, policy) if policy is not None else []
        return await self.respond(request, "limits.jinja", session, limits=limits)

    async def policy(self, request: Request, session: Session) -> Response:
        state = self.sources.policy.check()
        lines = state.text.split("\n")
        bad = {line for line, _, _ in state.errors}
        return await self.respond(
            request,
            "policy.jinja",
            session,
            state=state,
            lines=list(enumerate(lines, start=1)),
            bad=bad,
            loaded_at=_clock_text(state.loaded_at),
            checked_at=_clock_text(state.checked_at),
        )

    # Audit search -----------------------------------------------------------------------

    async def audit(self, request: Request, session: Session) -> Response:
        wanted = _search_filter(request, self.sources.clock())
        rows: list[Any] = []
        total = 0
        searched = bool(request.query_params)
        if searched and isinstance(wanted, RecordFilter) and self._audit_exists():
            assert self.sources.audit_path is not None
            matches = list(query(self.sources.audit_path, wanted))
            total = len(matches)
            rows = [view_record(r) for r in reversed(matches[-SEARCH_SHOWN:])]
        return await self.respond(
            request,
            "audit.jinja",
            session,
            rows=rows,
            total=total,
            searched=searched,
            chosen=_chosen(request, ("since", "until", *FIELDS)),
            fields=FIELDS,
            error=wanted if isinstance(wanted, str) else "",
            has_audit=self._audit_exists(),
            audit_path=str(self.sources.audit_path or ""),
            query_string=request.url.query,
        )

    async def export(self, request: Request, session: Session) -> Response:
        wanted = _search_filter(request, self.sources.clock())
        if isinstance(wanted, str):
            return _plain(400, wanted)
        if not self._audit_exists():
            return _plain(404, "no audit log")
        assert self.sources.audit_path is not None
        records = query(self.sources.audit_path, wanted, tag_writer=True)
        kind = request.query_params.get("format", "jsonl")
        if kind == "csv":
            body, media = _csv(records), "text/csv; charset=utf-8"
        elif kind == "jsonl":
            body = "".join(
                json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records
            )
            media = "application/x-ndjson"
        else:
            return _plain(400, "format is jsonl or csv")
        disposition = f'attachment; filename="callgate-audit.{kind}"'
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    async def verify(self, request: Request, session: Session) -> Response:
        summary = await pages.verification_view(self.sources)
        html = self.templates.get_template("_verify.jinja").render(summary=summary)
        return HTMLResponse(html)


class _Said(TypedDict):
    """Who decides, through which channel, when and why (both decisions take these)."""

    by: str
    channel: str
    now: float
    reason: str


_SSE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
_SECURITY_RAW = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _grant(action: str, minutes: str | None) -> tuple[GrantScope | None, float | None]:
    if action == "once":
        return GrantScope.ONCE, None
    if action == "session":
        return GrantScope.SESSION, None
    if minutes is None or not minutes.strip().isdigit() or int(minutes) < 1:
        return None, None
    return GrantScope.DURATION, int(minutes) * 60.0


def _chosen(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.query_params.get(name, "") for name in names}


def _with_since(request: Request, now: float) -> str:
    """The page's filters for its stream, with where the stream starts: a little before
    the page was made, so that no record written meanwhile is missed (the page drops the
    rows it already shows)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "since"]
    params.append(("since", format_time(now - STREAM_OVERLAP)))
    return urlencode(params)


def _decision_filter(request: Request) -> RecordFilter:
    values = {
        name: [value]
        for name in ("tool", "agent", "decision")
        if (value := request.query_params.get(name, "").strip())
    }
    return RecordFilter(values=values)


def _search_filter(request: Request, now: float) -> RecordFilter | str:
    params = request.query_params
    try:
        since = params.get("since", "").strip()
        until = params.get("until", "").strip()
        return RecordFilter(
            since=parse_time(since, now) if since else None,
            until=parse_time(until, now) if until else None,
            values={name: [value] for name in FIELDS if (value := params.get(name, "").strip())},
        )
    except ValueError as error:
        return str(error)


def _csv(records: Any) -> str:
    from callgate.audit.terminal import CSV_COLUMNS, csv_row  # noqa: PLC0415

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow((*CSV_COLUMNS, "writer"))
    for record in records:
        writer.writerow((*csv_row(record), record.get("writer", "")))
    return out.getvalue()


def _clock_text(moment: float | None) -> str:
    if moment is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))
