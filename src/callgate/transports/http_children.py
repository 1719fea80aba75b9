"""The HTTP listener's backend for `-- CMD`: stdio children behind a Streamable HTTP endpoint.

- A 2025-11-25 session is one child, started by the `initialize` POST that opens the
  session; callgate names the session (`Mcp-Session-Id`) and ends the child on DELETE.
  Request ids are the client's own: nobody else writes to that child.
- Stateless 2026-07-28 requests share one child (started on first use). Their ids (and
  progress tokens) are remapped to callgate's own, unique ones before they reach the
  child and mapped back on the way out, so two clients that both send `"id": 1` each get
  only their own response. Closing a response stream cancels the request in the child.

A spare child is kept running (started with the listener, and again in the background
each time one is taken), so a session's `initialize`, or the first stateless request, gets
a server that has already started instead of waiting for one to boot. A spare that exits
before it is used is replaced after a back-off that doubles while the command keeps
failing; a session then gets a fresh child as it would without a spare, and the client
sees the command's failure. `CALLGATE_SPARE_CHILD=0` turns the spare off.

Server messages are routed to the POST stream they belong to: a response by its id,
progress by its token. Anything else a 2025-11-25 child sends (requests such as
elicitation, log notifications) goes to the only open request stream when there is one,
else to the standalone GET stream, else to the oldest open request stream, else it waits
(bounded) for the next GET. See docs/design/http-listener.md.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from callgate.proxy.hooks import Interceptor, Message, Peer
from callgate.proxy.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    ParseError,
    decode,
    encode,
    error_response,
)
from callgate.transports import headers as mcp_headers
from callgate.transports.exchange import Answer, Outgoing
from callgate.transports.relay import UPSTREAM_ERROR, id_key, wire
from callgate.transports.sse import Event
from callgate.transports.stdio import LineReader

logger = logging.getLogger(__name__)

MAX_SESSIONS: Final = 64
HANDSHAKE_VERSIONS: Final = frozenset({"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"})
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022
BACKLOG: Final = 256
"""Server messages kept for a session's next GET stream when no stream is open."""
STREAM_BUFFER: Final = 1024
STOP_GRACE: Final = 5.0
SPARE_BACKOFF: Final = (0.5, 30.0)
"""First and longest wait before replacing a spare that exited unused."""
SPARE_HEALTHY: Final = 10.0
"""A spare that ran this long before exiting was not failing at once: no back-off."""
SUBSCRIPTION_ID: Final = "io.modelcontextprotocol/subscriptionId"
"""The `_meta` key naming the `subscriptions/listen` request a listen-stream frame belongs to."""

Key = tuple[bool, Any]


def _json_error(status: int, code: int, message: str, request_id: Any = None) -> Answer:
    data = encode(error_response(request_id, code, message))
    return Answer(status, {}, _single(Event(data)), False)


ENVELOPE_KEYS: Final = (
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
)


def _envelope_problem(body: dict[str, Any]) -> str | None:
    """Why a 2026-07-28 request lacks its per-request envelope, or None."""
    params = body.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return "params._meta must be an object carrying the per-request envelope"
    missing = [key for key in ENVELOPE_KEYS if key not in meta]
    return f"params._meta is missing {', '.join(missing)}" if missing else None


async def _single(event: Event) -> AsyncIterator[Event]:
    yield event


class Child:
    """One stdio MCP server process: lines in, decoded messages out."""

    def __init__(self, argv: Sequence[str], label: str, max_message_bytes: int) -> None:
        self.argv = list(argv)
        self.label = label
        self._max = max_message_bytes
        self._process: anyio.abc.Process | None = None
        self._lock = anyio.Lock()
        self.exited = anyio.Event()
        self.returncode: int | None = None

    async def run(
        self,
        on_message: Callable[[Message], Awaitable[None]],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start the process, hand each message it writes to `on_message`, return at its EOF."""
        # Shielded: a start cancelled half-way (shutdown while the spare starts) would leave
        # a process running that nobody reaps.
        with anyio.CancelScope(shield=True):
            process = await anyio.open_process(self.argv, stderr=None)
        self._process = process
        logger.info("started %s (pid %d): %s", self.label, process.pid, " ".join(self.argv))
        task_status.started()
        assert process.stdout is not None
        stdout = process.stdout

        async def read(size: int) -> bytes:
            try:
                return await stdout.receive(size)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return b""

        lines = LineReader(read, self._max)
        try:
            while (line := await lines.next()) is not None:
                if not isinstance(line, bytes):  # a line over the limit, already discarded
                    logger.warning("%s wrote a message over the size limit; dropped", self.label)
                    continue
                if not line.strip():
                    continue
                try:
                    items, _ = decode(line, max_bytes=self._max)
                except ParseError as exc:
                    logger.warning("%s wrote a line that does not parse: %s", self.label, exc)
                    continue
                for item in items:
                    if isinstance(item, Message):
                        await on_message(item)
        finally:
            with anyio.CancelScope(shield=True):
                self.returncode = await _reap(process)
                await process.aclose()  # its pipes too
                self.exited.set()

    async def send(self, data: bytes) -> None:
        """Write one message; raises `anyio.BrokenResourceError` when the child is gone."""
        process = self._process
        if process is None or process.stdin is None or self.exited.is_set():
            raise anyio.BrokenResourceError
        async with self._lock:
            await process.stdin.send(data + b"\n")

    async def stop(self) -> None:
        """Close stdin and wait for the exit, terminating and killing a child that lingers."""
        process = self._process
        if process is None or self.exited.is_set():
            return
        with anyio.CancelScope(shield=True):
            if process.stdin is not None:
                await process.stdin.aclose()
            await self.exited.wait()


class _Spare:
    """A child started before anyone needs it; its messages and its exit go to whoever
    adopts it (a session, or the stateless requests)."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.started = time.monotonic()
        self.settled = anyio.Event()
        """Set when the spare is adopted or exits unused."""
        self.spoke = anyio.Event()
        """Set at the child's first message, or its exit: it has finished starting."""
        self._route: Callable[[Message], Awaitable[None]] | None = None
        self._lost: Callable[[], Awaitable[None]] | None = None

    @property
    def adopted(self) -> bool:
        return self._route is not None

    def adopt(
        self,
        label: str,
        route: Callable[[Message], Awaitable[None]],
        lost: Callable[[], Awaitable[None]],
    ) -> Child:
        """Hand the running child over; returns it."""
        self.child.label = label
        self._route, self._lost = route, lost
        self.settled.set()
        return self.child

    async def route(self, message: Message) -> None:
        self.spoke.set()
        if self._route is None:
            logger.warning("a spare server wrote before any client used it; dropped")
            return
        await self._route(message)

    async def lost(self) -> None:
        self.settled.set()
        self.spoke.set()
        if self._lost is not None:
            await self._lost()


async def _reap(process: anyio.abc.Process) -> int:
    """The MCP stdio shutdown: EOF on stdin, then SIGTERM, then SIGKILL; returns the status."""
    if process.returncode is not None:
        return process.returncode
    if process.stdin is not None:
        await process.stdin.aclose()
    for escalate in (process.terminate, process.kill):
        with anyio.move_on_after(STOP_GRACE):
            return await process.wait()
        escalate()
    return await process.wait()


@dataclass(eq=False)
class _Stream:
    """One open response stream: the requests it waits for and where its frames go."""

    sink: MemoryObjectSendStream[Event]
    peer: Peer
    waiting: dict[Key, Any] = field(default_factory=dict)
    """Key of the id the child sees -> the id the client used."""
    tokens: dict[Key, Any] = field(default_factory=dict)
    """Key of the progress token the child sees -> the client's token."""

    async def put(self, body: dict[str, Any], raw: bytes = b"") -> None:
        try:
            await self.sink.send(Event(raw or encode(body)))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            logger.debug("dropped a server message: its stream is closed")


def _open_stream(peer: Peer) -> tuple[_Stream, MemoryObjectReceiveStream[Event]]:
    sink, source = anyio.create_memory_object_stream[Event](STREAM_BUFFER)
    return _Stream(sink, peer), source


async def _frames(source: MemoryObjectReceiveStream[Event]) -> AsyncIterator[Event]:
    async with source:
        async for event in source:
            yield event


def _progress_token(body: dict[str, Any]) -> Any:
    params = body.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta.get("progressToken") if isinstance(meta, dict) else None


@dataclass(eq=False)
class _Session:
    """A 2025-11-25 session: its own child and its open streams."""

    id: str
    child: Child
    peer: Peer
    streams: list[_Stream] = field(default_factory=list)
    standalone: _Stream | None = None
    backlog: deque[Message] = field(default_factory=lambda: deque(maxlen=BACKLOG))

    async def route(self, message: Message) -> None:
        """Send a child's message to the stream it belongs to."""
        if message.is_response:
            key = id_key(message.body.get("id"))
            for stream in self.streams:
                if key in stream.waiting:
                    del stream.waiting[key]
                    await stream.put(message.body, message.raw)
                    if not stream.waiting:
                        self.streams.remove(stream)
                        stream.sink.close()
                    return
        if message.method == "notifications/progress":
            token = (message.body.get("params") or {}).get("progressToken")
            for stream in self.streams:
                if id_key(token) in stream.tokens:
                    await stream.put(message.body, message.raw)
                    return
        target = self._target()
        if target is None:
            self.backlog.append(message)
        else:
            await target.put(message.body, message.raw)

    def _target(self) -> _Stream | None:
        if len(self.streams) == 1:
            return self.streams[0]
        if self.standalone is not None:
            return self.standalone
        return self.streams[0] if self.streams else None


class ChildBackend:
    """Serves the listener's sessions from stdio children of one command."""

    def __init__(
        self,
        argv: Sequence[str],
        interceptor: Interceptor,
        *,
        max_message_bytes: int,
        max_sessions: int = MAX_SESSIONS,
        spare: bool = True,
    ) -> None:
        self.argv = list(argv)
        self._keep_spare = spare
        self._spare: _Spare | None = None
        self._interceptor = interceptor
        self._max = max_message_bytes
        self._max_sessions = max_sessions
        self._sessions: dict[str, _Session] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._shared: Child | None = None
        self._shared_lock = anyio.Lock()
        self._shared_pending: dict[Key, _Stream] = {}
        self._next_id = 0
        self._closing = False

    async def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Children run in `task_group` (the listener's); the first spare starts now."""
        self._task_group = task_group
        if self._keep_spare:
            task_group.start_soon(self._spares)

    async def aclose(self) -> None:
        """Stop every child, the spare too."""
        self._closing = True
        for session in list(self._sessions.values()):
            await session.child.stop()
        if self._shared is not None:
            await self._shared.stop()
        spare, self._spare = self._spare, None
        if spare is not None and not spare.adopted:
            await spare.child.stop()

    # -- the spare child --------------------------------------------------------------

    async def _spares(self) -> None:
        """Keep one spare running: start one, wait until it is taken or dies, repeat.

        A spare that dies unused soon after starting means the command fails: wait, longer
        each time, so a broken command is never respawned in a tight loop.
        """
        backoff = SPARE_BACKOFF[0]
        while not self._closing:
            spare = _Spare(Child(self.argv, "spare server", self._max))
            assert self._task_group is not None
            try:
                await self._task_group.start(self._supervise, spare.child, spare.route, spare.lost)
            except OSError as exc:
                logger.error(  # noqa: TRY400 - the cause is in the message
                    "cannot start a spare server (%s); retrying in %.1f s", exc, backoff
                )
            else:
                self._spare = spare
                await spare.settled.wait()
                if self._spare is spare:
                    self._spare = None
                if spare.adopted:
                    backoff = SPARE_BACKOFF[0]
                    # Taken before it finished starting: let it finish first, rather than
                    # slow it down with the next spare starting beside it.
                    await spare.spoke.wait()
                    continue
                if self._closing:
                    return
                if time.monotonic() - spare.started >= SPARE_HEALTHY:
                    backoff = SPARE_BACKOFF[0]
                logger.error(
                    "the spare server exited unused (status %s); another in %.1f s",
                    spare.child.returncode,
                    backoff,
                )
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, SPARE_BACKOFF[1])

    def _take_spare(
        self,
        label: str,
        route: Callable[[Message], Awaitable[None]],
        lost: Callable[[], Awaitable[None]],
    ) -> Child | None:
        """The running spare, handed to `route`/`lost`; None when there is none alive."""
        spare, self._spare = self._spare, None
        if spare is None or spare.child.exited.is_set() or spare.adopted:
            return None
        logger.info("%s uses the spare server", label)
        return spare.adopt(label, route, lost)

    # -- 2025-11-25 sessions ---------------------------------------------------------

    async def post(self, outgoing: Outgoing) -> Answer:
        version = outgoing.headers.get(mcp_headers.PROTOCOL_VERSION)
        if version is not None and version not in HANDSHAKE_VERSIONS and not outgoing.modern:
            # Not a version of either generation: refused as 2026-07-28 servers do.
            requests = [m for m in outgoing.messages if m.is_request]
            request_id = requests[0].body["id"] if requests else None
            data = {"supported": list(mcp_headers.MODERN_PROTOCOL_VERSIONS), "requested": version}
            body = error_response(
                request_id, UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version", data
            )
            return Answer(400, {}, _single(Event(encode(body))), False)
        if outgoing.modern:
            return await self._post_stateless(outgoing)
        opens_session = any(m.method == "initialize" for m in outgoing.messages)
        session_id = outgoing.headers.get(mcp_headers.SESSION_ID)
        headers: dict[str, str] = {}
        if session_id is None:
            if not opens_session:
                return _json_error(400, INVALID_REQUEST, "missing Mcp-Session-Id header")
            if len(self._sessions) >= self._max_sessions:
                return _json_error(503, UPSTREAM_ERROR, "too many open sessions")
            session = await self._open_session(outgoing.peer)
            headers[mcp_headers.SESSION_ID] = session.id
        else:
            found = self._sessions.get(session_id)
            if found is None:
                return _json_error(404, INVALID_REQUEST, "session not found")
            session = found
        requests = [m for m in outgoing.messages if m.is_request]
        stream: _Stream | None = None
        source: MemoryObjectReceiveStream[Event] | None = None
        if requests:
            stream, source = _open_stream(outgoing.peer)
            for message in requests:
                stream.waiting[id_key(message.body["id"])] = message.body["id"]
                token = _progress_token(message.body)
                if token is not None:
                    stream.tokens[id_key(token)] = token
            session.streams.append(stream)
        try:
            for message in outgoing.messages:
                await session.child.send(wire(message))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            if stream is not None and source is not None:
                session.streams.remove(stream)
                stream.sink.close()
                source.close()
            return _json_error(404, INVALID_REQUEST, "session ended: the server process exited")
        if stream is None or source is None:
            return Answer(202, headers)

        async def close() -> None:
            # A 2025-11-25 disconnect is not a cancellation: late answers go to GET.
            if stream in session.streams:
                session.streams.remove(stream)
            stream.sink.close()

        return Answer(200, headers, _frames(source), None, close)

    async def _open_session(self, peer: Peer) -> _Session:
        session_id = uuid.uuid4().hex
        label = f"session {session_id[:8]}"
        session = _Session(session_id, Child(self.argv, label, self._max), peer)

        async def lost() -> None:
            await self._session_lost(session)

        spare = self._take_spare(label, session.route, lost)
        if spare is not None:
            session.child = spare
            self._sessions[session_id] = session
            return session
        self._sessions[session_id] = session
        assert self._task_group is not None
        try:
            await self._task_group.start(self._supervise, session.child, session.route, lost)
        except BaseException:
            self._sessions.pop(session_id, None)
            raise
        return session

    async def _supervise(
        self,
        child: Child,
        route: Callable[[Message], Awaitable[None]],
        lost: Callable[[], Awaitable[None]],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run a child until it exits, then settle what it leaves behind with `lost`."""
        try:
            await child.run(route, task_status=task_status)
        except anyio.get_cancelled_exc_class():
            self._closing = True
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await lost()

    async def _session_lost(self, session: _Session) -> None:
        """The child exited: answer what it left unanswered and forget the session."""
        if self._sessions.pop(session.id, None) is not None and not self._closing:
            logger.error(
                "%s: the server process exited (status %s)",
                session.child.label,
                session.child.returncode,
            )
        reason = f"upstream process exited (status {session.child.returncode})"
        peers = {session.peer}
        for stream in session.streams:
            peers.add(stream.peer)
            for client_id in stream.waiting.values():
                await stream.put(error_response(client_id, UPSTREAM_ERROR, reason))
            stream.sink.close()
        session.streams.clear()
        if session.standalone is not None:
            session.standalone.sink.close()
        for peer in peers:
            await self._interceptor.on_upstream_lost(peer)

    async def get(self, outgoing: Outgoing) -> Answer:
        session_id = outgoing.headers.get(mcp_headers.SESSION_ID)
        if session_id is None:
            return Answer(405, {"allow": "POST, DELETE"})
        session = self._sessions.get(session_id)
        if session is None:
            return _json_error(404, INVALID_REQUEST, "session not found")
        if session.standalone is not None:
            return _json_error(409, INVALID_REQUEST, "this session's GET stream is already open")
        stream, source = _open_stream(outgoing.peer)
        session.standalone = stream
        while session.backlog:
            message = session.backlog.popleft()
            await stream.put(message.body, message.raw)

        async def close() -> None:
            if session.standalone is stream:
                session.standalone = None
            stream.sink.close()

        return Answer(200, {}, _frames(source), True, close)

    async def delete(self, outgoing: Outgoing) -> Answer:
        session_id = outgoing.headers.get(mcp_headers.SESSION_ID)
        session = self._sessions.pop(session_id, None) if session_id else None
        if session is None:
            return _json_error(404, INVALID_REQUEST, "session not found")
        await session.child.stop()
        return Answer(200)

    # -- 2026-07-28 stateless requests ------------------------------------------------

    async def _post_stateless(self, outgoing: Outgoing) -> Answer:
        requests = [m for m in outgoing.messages if m.is_request]
        if not requests:
            # No client-to-server notification means anything on this wire: accept, drop.
            return Answer(202)
        for message in requests:
            # Refused here: `initialize`, or a request without the envelope, would make
            # the shared child fall back to the handshake era, and it would then refuse
            # everyone's requests. 2026-07-28 has no `initialize`.
            if message.method == "initialize":
                return _json_error(404, METHOD_NOT_FOUND, "Method not found", message.body["id"])
            problem = _envelope_problem(message.body)
            if problem is not None:
                return _json_error(400, INVALID_PARAMS, problem, message.body["id"])
        child = await self._shared_child()
        stream, source = _open_stream(outgoing.peer)
        remapped: list[bytes] = []
        for message in requests:
            self._next_id += 1
            child_id = self._next_id
            body = dict(message.body)
            body["id"] = child_id
            stream.waiting[id_key(child_id)] = message.body["id"]
            token = _progress_token(message.body)
            if token is not None:
                child_token = f"callgate-{child_id}"
                params = dict(body["params"])
                params["_meta"] = {**params["_meta"], "progressToken": child_token}
                body["params"] = params
                stream.tokens[id_key(child_token)] = token
            self._shared_pending[id_key(child_id)] = stream
            remapped.append(encode(body))
        try:
            for data in remapped:
                await child.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._forget(stream)
            source.close()
            return _json_error(502, UPSTREAM_ERROR, "the server process is not running")

        async def close() -> None:
            # Closing a 2026-07-28 response stream cancels what it still waits for.
            for key in list(stream.waiting):
                cancel = {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": key[1], "reason": "the client closed the stream"},
                }
                try:
                    await child.send(encode(cancel))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    break
            await self._forget(stream)

        return Answer(200, {}, _frames(source), None, close)

    async def _forget(self, stream: _Stream) -> None:
        for key in stream.waiting:
            self._shared_pending.pop(key, None)
        stream.waiting.clear()
        stream.sink.close()

    async def _shared_child(self) -> Child:
        async with self._shared_lock:
            if self._shared is None or self._shared.exited.is_set():
                holder: list[Child] = []

                async def route(message: Message) -> None:
                    await self._route_shared(holder[0], message)

                async def lost() -> None:
                    await self._shared_lost(holder[0])

                child = self._take_spare("stateless server", route, lost)
                if child is None:
                    child = Child(self.argv, "stateless server", self._max)
                    holder.append(child)
                    assert self._task_group is not None
                    await self._task_group.start(self._supervise, child, route, lost)
                else:
                    holder.append(child)
                self._shared = child
            return self._shared

    async def _route_shared(self, child: Child, message: Message) -> None:
        body = message.body
        if message.is_response:
            key = id_key(body.get("id"))
            stream = self._shared_pending.pop(key, None)
            if stream is None:
                logger.debug("dropped a response to a request no stream waits for")
                return
            client_id = stream.waiting.pop(key)
            await stream.put({**body, "id": client_id})
            if not stream.waiting:
                stream.sink.close()
            return
        if message.is_request:
            # 2026-07-28 has no server-to-client requests over HTTP: refuse, never guess.
            refusal = error_response(body["id"], METHOD_NOT_FOUND, "no client back-channel")
            await child.send(encode(refusal))
            return
        if message.method == "notifications/progress":
            params = body.get("params") or {}
            key = id_key(params.get("progressToken"))
            for stream in set(self._shared_pending.values()):
                if key in stream.tokens:
                    rewritten = {**params, "progressToken": stream.tokens[key]}
                    await stream.put({**body, "params": rewritten})
                    return
        if await self._route_listen_frame(body):
            return
        streams = set(self._shared_pending.values())
        if len(streams) == 1:
            await streams.pop().put(body, message.raw)
        else:
            # Request-scoped notifications need their request; with several in flight
            # there is no telling, and guessing could show one client another's data.
            logger.debug("dropped %s: cannot tell which request it belongs to", message.method)

    async def _route_listen_frame(self, body: dict[str, Any]) -> bool:
        """Send a `subscriptions/listen` frame to its stream, stamped with the client's id.

        The child stamps every frame of a listen stream with the request id it saw
        (callgate's); the client matches frames by its own.
        """
        params = body.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if (
            not isinstance(params, dict)
            or not isinstance(meta, dict)
            or SUBSCRIPTION_ID not in meta
        ):
            return False
        key = id_key(meta[SUBSCRIPTION_ID])
        stream = self._shared_pending.get(key)
        if stream is None:
            logger.debug("dropped a frame of a listen stream nobody reads")
            return True
        stamped = {**meta, SUBSCRIPTION_ID: stream.waiting[key]}
        await stream.put({**body, "params": {**params, "_meta": stamped}})
        return True

    async def _shared_lost(self, child: Child) -> None:
        if not self._closing:
            logger.error("the stateless server process exited (status %s)", child.returncode)
        reason = f"upstream process exited (status {child.returncode})"
        streams = set(self._shared_pending.values())
        self._shared_pending.clear()
        for stream in streams:
            for client_id in stream.waiting.values():
                await stream.put(error_response(client_id, UPSTREAM_ERROR, reason))
            stream.waiting.clear()
            stream.sink.close()
            await self._interceptor.on_upstream_lost(stream.peer)
