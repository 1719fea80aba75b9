"""Passing decoded messages through the interceptor, shared by the HTTP transports.

Client-to-server: each message (each element of a batch) is judged on its own; a `Reply`
is answered locally and never forwarded. Server-to-client: each message is shown to the
interceptor, which may rewrite or drop it; what does not parse is dropped, never relayed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from callgate.proxy.hooks import Forward, Interceptor, Message, Peer
from callgate.proxy.jsonrpc import INTERNAL_ERROR, ParseError, decode, encode, error_response

logger = logging.getLogger(__name__)

UPSTREAM_ERROR = -32000
"""JSON-RPC error code callgate uses when the upstream could not answer (server-error range)."""


@dataclass(slots=True)
class Judged:
    """The client messages of one frame after judging: what goes upstream, what is answered here."""

    forward: list[Message] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def requests(self) -> list[Message]:
        """The forwarded messages that expect a response."""
        return [message for message in self.forward if message.is_request]


async def judge_client(
    interceptor: Interceptor, items: list[Message | ParseError], peer: Peer
) -> Judged:
    """Judge every client message of a frame; invalid batch elements become error replies."""
    judged = Judged()
    for item in items:
        if isinstance(item, ParseError):
            judged.replies.append(item.response())
            continue
        verdict = await interceptor.on_client_message(item, peer)
        if isinstance(verdict, Forward):
            judged.forward.append(verdict.message)
        else:
            judged.replies.append(verdict.body)
    return judged


def wire(message: Message) -> bytes:
    """The bytes to send for a message: the original ones unless it was rewritten."""
    return message.raw or encode(message.body)


def wire_batch(messages: list[Message], was_batch: bool) -> bytes:
    """One message as itself, several (or an original batch) as a JSON array."""
    if len(messages) == 1 and not was_batch:
        return wire(messages[0])
    return b"[" + b",".join(wire(message) for message in messages) + b"]"


async def judge_server(
    interceptor: Interceptor, data: bytes, peer: Peer, max_bytes: int
) -> tuple[bytes | None, list[Message]]:
    """Judge the server messages in one frame; returns the bytes to relay and the messages kept.

    A frame that does not parse is dropped (logged), so nothing unparsed reaches the
    client; the caller answers any request left without a response.
    """
    try:
        items, was_batch = decode(data, max_bytes=max_bytes)
    except ParseError as exc:
        logger.warning("dropped a server message that does not parse: %s", exc.message)
        return None, []
    kept: list[Message] = []
    for item in items:
        if isinstance(item, ParseError):
            logger.warning("dropped a server batch element that does not parse: %s", item.message)
            continue
        judged = await interceptor.on_server_message(item, peer)
        if judged is not None:
            kept.append(judged)
    if not kept:
        return None, []
    return wire_batch(kept, was_batch), kept


async def synthesize_error(
    interceptor: Interceptor, peer: Peer, request_id: Any, message: str, code: int = UPSTREAM_ERROR
) -> bytes | None:
    """An error response for a request the upstream left unanswered, shown to the interceptor.

    The interceptor sees it as a server message so it can settle the call (roll back
    counters) exactly as for an error the server sent.
    """
    body = error_response(request_id, code, message)
    judged = await interceptor.on_server_message(Message(body, encode(body)), peer)
    return None if judged is None else wire(judged)


Questions = dict[str, tuple[anyio.Event, list[dict[str, Any]]]]
"""callgate's open questions to clients: request id -> (answered, the answer)."""


class OwnNotices:
    """callgate's own notifications to a client (the `ClientNotifier` contract), written
    where the client reads the answer to the call concerned."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        self._write = write

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Write a notification to the client."""
        await self._write(encode({"jsonrpc": "2.0", "method": method, "params": params}))


class OwnRequests(OwnNotices):
    """callgate's own requests to a client (the `ClientRequests` contract), and its
    notifications (`ClientNotifier`).

    Ids are `callgate-<random>`, so they never collide with the server's; the client's
    response is taken out of the stream by `claim` before any interceptor sees it, and a
    request whose caller stops waiting is withdrawn with `notifications/cancelled`.
    """

    def __init__(
        self, write: Callable[[bytes], Awaitable[None]], waiting: Questions | None = None
    ) -> None:
        super().__init__(write)
        # Shared when answers may come back on another connection than the question (HTTP).
        self._waiting: Questions = {} if waiting is None else waiting

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request to the client; return its JSON-RPC response."""
        request_id = f"callgate-{uuid.uuid4().hex}"
        answered = anyio.Event()
        box: list[dict[str, Any]] = []
        self._waiting[request_id] = (answered, box)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            await self._write(encode(body))
            await answered.wait()
            return box[0]
        except anyio.get_cancelled_exc_class():
            note = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "no longer needed"},
            }
            with anyio.CancelScope(shield=True):
                await self._write(encode(note))
            raise
        finally:
            self._waiting.pop(request_id, None)

    def claim(self, message: Message) -> bool:
        """Take the client's response to one of callgate's requests; False for any other."""
        return claim_answer(self._waiting, message)


def claim_answer(questions: Questions, message: Message) -> bool:
    """Hand a client's response to the question it answers; False when it answers none."""
    if not message.is_response or not questions:
        return False
    request_id = message.body.get("id")
    waiting = questions.get(request_id) if isinstance(request_id, str) else None
    if waiting is None or waiting[0].is_set():
        return False
    waiting[1].append(message.body)
    waiting[0].set()
    return True


def response_ids(messages: list[Message]) -> set[Any]:
    """The ids of the responses among `messages`, as hashable keys."""
    return {id_key(m.body.get("id")) for m in messages if m.is_response}


def id_key(request_id: Any) -> tuple[bool, Any]:
    """A dict key for a JSON-RPC id that keeps `1` and `"1"` apart."""
    return (isinstance(request_id, str), request_id)


__all__ = [
    "INTERNAL_ERROR",
    "UPSTREAM_ERROR",
    "Judged",
    "OwnNotices",
    "OwnRequests",
    "Questions",
    "claim_answer",
    "id_key",
    "judge_client",
    "judge_server",
    "response_ids",
    "synthesize_error",
    "wire",
    "wire_batch",
]
