"""The contract between transports and the gate.

A transport (stdio, Streamable HTTP) reads bytes, turns them into `Message`s with
`callgate.proxy.jsonrpc`, and hands every client-to-server message to an
`Interceptor` before forwarding it, and every server-to-client message after receiving
it. The interceptor answers `Forward` (send this upstream) or `Reply` (answer the client
directly; nothing reaches the server). Messages the interceptor has no rule for come back
unchanged, and a transport then writes the original bytes (`Message.raw`) so unknown
protocol features pass through byte-faithfully.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from callgate.policy.decision import ANONYMOUS, Agent


@dataclass(slots=True)
class Message:
    """One JSON-RPC message: the parsed object and the exact bytes it came from.

    When an interceptor rewrites `body` it sets `raw` to b"" so the transport re-encodes.
    """

    body: dict[str, Any]
    raw: bytes = b""

    @property
    def method(self) -> str | None:
        """The method of a request or notification, None for a response."""
        method = self.body.get("method")
        return method if isinstance(method, str) else None

    @property
    def is_request(self) -> bool:
        """A request carries a method and an id; a notification has no id."""
        return "method" in self.body and "id" in self.body

    @property
    def is_response(self) -> bool:
        """A response carries an id and a result or an error, and no method."""
        return "method" not in self.body and ("result" in self.body or "error" in self.body)


class ClientRequests(Protocol):
    """A transport's way for callgate itself to ask the client something (a 2025-11-25
    `elicitation/create` for an approval). The transport matches the client's response by
    id and hands it back here; it never reaches the interceptor or the server."""

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request to the client; return its JSON-RPC response (`result` or `error`).

        Cancelling the caller tells the client (`notifications/cancelled`).
        """
        ...


class ClientNotifier(Protocol):
    """A transport's way for callgate itself to send a notification to the client (the
    `notifications/progress` of a call held waiting for approval), on the stream where the
    client reads the answer to that call."""

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Write a notification to the client; raises if the client cannot be reached."""
        ...


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the client side of one message.

    `server` names the upstream; `session` is the MCP session as callgate defines it (the
    stdio connection, the `Mcp-Session-Id`, or for stateless HTTP the agent plus a
    client-supplied session key); `protocol_version` is the negotiated or per-request
    MCP version when known; `client` is set by transports that can send callgate's own
    requests to the client (stdio), None where they cannot; `notifier` is set by transports
    that can send callgate's own notifications to the client, None where they cannot.
    """

    server: str
    session: str
    agent: Agent = ANONYMOUS
    protocol_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    client: ClientRequests | None = field(default=None, compare=False, hash=False)
    notifier: ClientNotifier | None = field(default=None, compare=False, hash=False)


OPENED_SESSION: Final = "opened_session"
"""`Peer.extra` key: on the server's answer to a 2025-11-25 `initialize` over HTTP (whose
`Peer.session` is a provisional key, the session not existing yet), the `Mcp-Session-Id`
that answer opened, so an interceptor can carry what it learnt at initialize over to it."""


@dataclass(frozen=True, slots=True)
class Forward:
    """Send this message upstream."""

    message: Message


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer the client with this JSON-RPC response; the request never reaches the server."""

    body: dict[str, Any]


class Interceptor(Protocol):
    """What a transport calls for every message crossing the proxy."""

    async def on_client_message(self, message: Message, peer: Peer) -> Forward | Reply:
        """Judge a client-to-server message (request, notification or response)."""
        ...

    async def on_server_message(self, message: Message, peer: Peer) -> Message | None:
        """Inspect a server-to-client message; return it (maybe rewritten) or None to drop."""
        ...

    async def on_upstream_lost(self, peer: Peer) -> None:
        """The upstream died or the session ended: settle every in-flight call of `peer`."""
        ...


class PassThrough:
    """An interceptor that judges nothing: the plain relay used as a baseline."""

    async def on_client_message(self, message: Message, peer: Peer) -> Forward | Reply:
        """Forward everything unchanged."""
        return Forward(message)

    async def on_server_message(self, message: Message, peer: Peer) -> Message | None:
        """Return everything unchanged."""
        return message

    async def on_upstream_lost(self, peer: Peer) -> None:
        """Nothing in flight to settle."""
