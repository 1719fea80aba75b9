"""One answer per JSON-RPC batch, on every transport.

JSON-RPC 2.0 answers a batch with one array holding the response to every request in it,
and with nothing when it held only notifications. MCP has batches in protocol 2025-03-26
only: 2025-06-18 removed them, and 2026-07-28 has none.

- On a 2025-03-26 session each element is judged on its own and the allowed ones are
  forwarded one by one: every server takes single messages, and MCP servers need not take
  batches (the SDK's ignore them on stdio and refuse them over HTTP). callgate's own
  replies and the server's answers are collected in a `Batch`, by request id, and written
  as one array once every request has its answer. A request the server leaves unanswered
  past the call timeout gets a timeout error there, so one element never holds the
  others forever; its late answer is dropped. A request the client cancels is owed none.
  `initialize` may not be part of a batch (2025-03-26) and is refused there.
- On any other version, and before a version was negotiated, a batch is refused whole:
  each request in it gets -32600 in one array and nothing is forwarded.

`Batches` is one connection's table of batched requests still waiting for the server,
bounded like every table on the path.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

import anyio

from callgate.proxy.hooks import Message
from callgate.proxy.jsonrpc import INVALID_REQUEST, ParseError, encode, error_response
from callgate.transports.relay import id_key

__all__ = [
    "BATCH_VERSION",
    "REQUEST_TIMEOUT",
    "Batch",
    "Batches",
    "allows_batches",
    "cancel_notice",
    "join",
    "refuse_batch",
    "refuse_element",
    "repeated_id",
    "timeout_reason",
]

BATCH_VERSION: Final = "2025-03-26"
"""The one protocol revision with JSON-RPC batches (added there, removed in 2025-06-18)."""

REQUEST_TIMEOUT: Final = -32001
"""JSON-RPC code for a request that timed out (the MCP SDKs' `REQUEST_TIMEOUT`)."""

MAX_WAITING: Final = 10_000
"""Batched requests one connection may have waiting for the server at once."""

MAX_LATE: Final = 10_000
"""Abandoned request ids remembered, so the server's late answers are dropped."""

Key = tuple[bool, Any]


def allows_batches(version: str | None) -> bool:
    """Whether a session speaking `version` may send batches (None: not negotiated yet)."""
    return version == BATCH_VERSION


def refuse_batch(items: list[Message | ParseError], version: str | None) -> list[bytes]:
    """The answers to a batch refused whole: -32600 for each request, an invalid element's
    own error; notifications and responses get none."""
    if version is None:
        reason = (
            f"JSON-RPC batches are accepted only on a session of protocol {BATCH_VERSION};"
            " send each message on its own"
        )
    else:
        reason = (
            f"JSON-RPC batches are not part of MCP protocol {version} (removed in"
            " 2025-06-18); send each message on its own"
        )
    answers: list[bytes] = []
    for item in items:
        if isinstance(item, ParseError):
            answers.append(encode(item.response()))
        elif item.is_request:
            answers.append(encode(error_response(item.body["id"], INVALID_REQUEST, reason)))
    return answers


def refuse_element(message: Message) -> bytes | None:
    """The answer to a batch element that may not be batched (`initialize`), else None."""
    if message.method != "initialize":
        return None
    reason = "initialize must not be part of a JSON-RPC batch"
    return encode(error_response(message.body.get("id"), INVALID_REQUEST, reason))


def repeated_id(request_id: Any) -> bytes:
    """The answer to a batched request whose id another request still waits on."""
    reason = "request id already waiting for an answer"
    return encode(error_response(request_id, INVALID_REQUEST, reason))


def timeout_reason(seconds: float) -> str:
    """What a batched request the server left unanswered is told."""
    return f"no answer from the server within {seconds:g} s (--call-timeout)"


def cancel_notice(request_id: Any, reason: str) -> dict[str, Any]:
    """The `notifications/cancelled` that tells the server callgate gave up on a request."""
    params = {"requestId": request_id, "reason": reason}
    return {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}


def join(answers: list[bytes]) -> bytes:
    """Encoded messages as one JSON array."""
    return b"[" + b",".join(answers) + b"]"


class Batch:
    """The answers of one client batch, collected until every request has one."""

    def __init__(self) -> None:
        self.answers: list[bytes] = []
        self.waiting: dict[Key, Any] = {}
        """Request key -> the client's id, for requests forwarded and not yet answered."""
        self._sealed = False
        self._done = anyio.Event()

    def reply(self, data: bytes) -> None:
        """Add an answer callgate gives itself (or one the server's ends stood in for)."""
        self.answers.append(data)

    def seal(self) -> None:
        """Every element was judged: the batch is complete once nothing waits."""
        self._sealed = True
        self.update()

    async def wait(self, seconds: float) -> bool:
        """Wait until every request is answered; False when `seconds` passed first."""
        with anyio.move_on_after(seconds):
            await self._done.wait()
            return True
        return False

    def update(self) -> None:
        """Mark the batch complete when it is sealed and nothing waits any more."""
        if self._sealed and not self.waiting:
            self._done.set()


class Batches:
    """One connection's batched requests that wait for the server, by request id."""

    def __init__(self, limit: int = MAX_WAITING) -> None:
        self._limit = limit
        self._owners: dict[Key, Batch] = {}
        self._late: OrderedDict[Key, None] = OrderedDict()

    def __bool__(self) -> bool:
        """Whether any answer may be a batch's (the hot path checks this first)."""
        return bool(self._owners or self._late)

    def expect(self, batch: Batch, request_id: Any) -> bytes | None:
        """Wait for `request_id`'s answer in `batch`; the element's refusal when it cannot
        be told apart from another request waiting, or the table is full (fail closed)."""
        key = id_key(request_id)
        if key in self._owners:
            return repeated_id(request_id)
        if len(self._owners) >= self._limit:
            reason = "too many batched requests waiting for the server"
            return encode(error_response(request_id, INVALID_REQUEST, reason))
        self._owners[key] = batch
        batch.waiting[key] = request_id
        self._late.pop(key, None)
        return None

    def settle(self, request_id: Any, data: bytes) -> bool:
        """Take the answer to a batched request; True when it was one (the caller does not
        write it). A late answer to an abandoned request is taken and dropped."""
        key = id_key(request_id)
        batch = self._owners.pop(key, None)
        if batch is None:
            if key in self._late:
                del self._late[key]
                return True
            return False
        del batch.waiting[key]
        batch.answers.append(data)
        batch.update()
        return True

    def cancel(self, request_id: Any) -> None:
        """The client cancelled a batched request: no answer is owed (a late one is dropped)."""
        key = id_key(request_id)
        batch = self._owners.pop(key, None)
        if batch is not None:
            del batch.waiting[key]
            self._drop_later(key)
            batch.update()

    def forget(self, request_id: Any) -> None:
        """A new request reuses the id: its answer is no longer a late one."""
        self._late.pop(id_key(request_id), None)

    def abandon(self, batch: Batch) -> list[Any]:
        """Stop waiting for `batch`'s unanswered requests; their ids (late answers dropped)."""
        ids = list(batch.waiting.values())
        for key in batch.waiting:
            self._owners.pop(key, None)
            self._drop_later(key)
        batch.waiting.clear()
        return ids

    def _drop_later(self, key: Key) -> None:
        self._late[key] = None
        if len(self._late) > MAX_LATE:
            self._late.popitem(last=False)
