"""What the HTTP listener and its backends exchange: judged client messages in, frames out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from callgate.proxy.hooks import Message, Peer
from callgate.transports import headers as mcp_headers
from callgate.transports.sse import Event


@dataclass(slots=True)
class Outgoing:
    """What the listener hands a backend: the client's request after judging."""

    messages: list[Message]
    """One message (a batch is split before it reaches a backend), none for GET/DELETE."""
    headers: dict[str, str]
    peer: Peer
    accepts_sse: bool
    version: str | None

    @property
    def modern(self) -> bool:
        """A stateless 2026-07-28 request."""
        return mcp_headers.is_modern(self.version)


@dataclass(slots=True)
class Answer:
    """A backend's answer: status, headers, and server frames (JSON bodies or SSE events).

    `sse` False means one JSON frame (or none); None lets the listener choose: JSON when
    the first frame answers every request, otherwise an event stream.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    frames: AsyncIterator[Event] | None = None
    sse: bool | None = False
    close: Callable[[], Awaitable[None]] | None = None
    session_peer: Peer | None = None


class Backend(Protocol):
    """Where the listener sends what it forwards."""

    async def post(self, outgoing: Outgoing) -> Answer:
        """Deliver client messages; answer with the server's frames."""
        ...

    async def get(self, outgoing: Outgoing) -> Answer:
        """Open the server's standalone event stream of a session."""
        ...

    async def delete(self, outgoing: Outgoing) -> Answer:
        """End a session."""
        ...

    async def aclose(self) -> None:
        """Stop everything the backend started."""
        ...
