"""Server-sent events as MCP's Streamable HTTP uses them: parsing upstream, writing downstream.

Event ids (resumability) and `retry` hints pass through unchanged; an event with an id
and no data (the server's "priming" event) is relayed too, since clients resume from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import httpx2

CONTENT_TYPE: Final = "text/event-stream"
HEADERS: Final = {
    "content-type": CONTENT_TYPE,
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: JSON-RPC bytes in `data` (empty for a priming event)."""

    data: bytes
    id: str | None = None
    retry: int | None = None
    event: str = "message"


def encode_event(event: Event) -> bytes:
    """The wire form of one event (`data` holds one JSON text, so a single `data:` line)."""
    lines = [f"event: {event.event}\n".encode()]
    if event.id is not None:
        lines.append(f"id: {event.id}\n".encode())
    if event.retry is not None:
        lines.append(f"retry: {event.retry}\n".encode())
    for line in event.data.split(b"\n") if event.data else [b""]:
        lines.append(b"data: " + line + b"\n")
    lines.append(b"\n")
    return b"".join(lines)


async def read_events(response: httpx2.Response, max_event_bytes: int) -> AsyncIterator[Event]:
    """The events of a streaming `text/event-stream` response, in order.

    Raises `httpx2.SSEError` for an event over `max_event_bytes`, and the transport's
    errors when the connection drops mid-stream.
    """
    last_id: str | None = None
    async for sse in httpx2.EventSource(response, max_event_size=max_event_bytes):
        # The parser reports the sticky last-event-id on every event; pass an id on only
        # when it changed, so the client sees the ids the server actually sent.
        event_id = sse.id or None
        fresh_id = event_id if event_id != last_id else None
        last_id = event_id or last_id
        yield Event(sse.data.encode(), fresh_id, sse.retry, sse.event or "message")
