"""Server-sent events for the live parts: the approvals inbox and the decisions stream.

Each stream yields encoded SSE frames; `console.js` applies them to the page:

    approval   the HTML card of a request that started waiting (put first in the inbox)
    settled    the HTML card of a request that stopped waiting (replaces its card)
    count      how many requests wait (the tab title and the badge)
    decision   the HTML row of a new audit record (put first in the table)

The inbox polls the approval store (every proxy writes there, whichever process); the
decisions stream follows the audit directory's files as the proxies append to them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio

from callgate.approvals.model import Approval, Status
from callgate.approvals.store import ApprovalNotFound, ApprovalStore
from callgate.audit.query import RecordFilter
from callgate.audit.reading import follow, last_records, snapshot

APPROVALS_POLL = 0.5
DECISIONS_POLL = 0.2
KEEPALIVE = 15.0
BACKLOG = 200
"""At most this many records from before the stream opened are sent first."""


def encode_frame(event: str, data: str) -> bytes:
    """One SSE frame; every line of `data` gets its own `data:` field."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n".encode()


async def approval_frames(
    store: ApprovalStore,
    render: Callable[[Approval], Awaitable[str]],
    *,
    shown: set[str],
    cards: bool = True,
    interval: float = APPROVALS_POLL,
) -> AsyncIterator[bytes]:
    """Frames for the inbox: new requests, requests that stopped waiting, the count.

    `shown` holds the ids the page already shows as waiting; without `cards` only the count
    is sent (the other pages' badge and title).
    """
    count = -1
    quiet = 0.0
    while True:
        pending = await store.list({Status.REQUESTED}, limit=500)
        ids = {approval.id for approval in pending}
        if not cards:
            shown = ids
        for approval in reversed(pending):  # oldest first: each new one goes on top
            if approval.id not in shown:
                shown.add(approval.id)
                yield encode_frame("approval", await render(approval))
        for gone in sorted(shown - ids):
            shown.discard(gone)
            try:
                settled = await store.get(gone)
            except ApprovalNotFound:
                continue
            yield encode_frame("settled", await render(settled))
        if len(ids) != count:
            count = len(ids)
            yield encode_frame("count", str(count))
        elif quiet >= KEEPALIVE:
            yield b": keep-alive\n\n"
            quiet = 0.0
        await anyio.sleep(interval)
        quiet += interval


async def decision_frames(
    path: Path,
    wanted: RecordFilter,
    render: Callable[[dict[str, Any]], str],
    *,
    since: str | None = None,
    interval: float = DECISIONS_POLL,
) -> AsyncIterator[bytes]:
    """Frames for the records `wanted` keeps appended to the audit log from now on, and
    first those timed from `since` on (the page showing them drops the ones it has)."""
    stopped = False
    sizes = snapshot(path)
    backlog: list[dict[str, Any]] = []
    if since is not None:
        earlier = RecordFilter(since=since, values=wanted.values)
        backlog = last_records(path, BACKLOG, earlier, upto=sizes)
    records: Iterator[dict[str, Any]] = follow(
        path, wanted, since=sizes, interval=interval, stop=lambda: stopped
    )

    def next_record() -> dict[str, Any] | None:
        return next(records, None)

    try:
        yield b": stream open\n\n"
        for earlier_record in backlog:
            if earlier_record.get("decision"):
                yield encode_frame("decision", render(earlier_record))
        while True:
            # `follow` sleeps between polls: it runs in a worker thread, which ends at the
            # next poll once the client has gone (`stopped`).
            record = await anyio.to_thread.run_sync(next_record, abandon_on_cancel=True)
            if record is None:
                return
            if record.get("decision"):  # approval events are not decisions
                yield encode_frame("decision", render(record))
    finally:
        stopped = True
