"""stdio in, child process out: `callgate run -c POLICY -- CMD ARGS...`.

Newline-delimited JSON-RPC is read from our stdin, judged by the interceptor and written
to the child's stdin; the child's stdout comes back the same way. Only protocol goes to
our stdout; the child's stderr is inherited so its logs reach the client's log.

Lifecycle (the MCP stdio shutdown sequence): when our stdin ends, the child's stdin is
closed; a child still running after `grace` seconds gets SIGTERM, then SIGKILL. SIGINT
and SIGTERM sent to callgate are forwarded to the child. When the child's stdout ends,
every request still waiting gets a JSON-RPC error and callgate exits with the child's
status (128 + N when signal N killed it).

Messages the interceptor returns unchanged are written as their original bytes: nothing
is re-encoded on the way through unless a rule rewrote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import stat
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from callgate.policy.decision import ANONYMOUS, Agent
from callgate.proxy.announcer import LIST_CHANGED, ToolListAnnouncer
from callgate.proxy.hooks import Forward, Interceptor, Message, Peer, Reply
from callgate.proxy.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    MAX_MESSAGE_BYTES,
    ParseError,
    decode,
    encode,
    error_response,
)
from callgate.transports.batch import (
    REQUEST_TIMEOUT,
    Batch,
    Batches,
    allows_batches,
    cancel_notice,
    join,
    refuse_batch,
    refuse_element,
    timeout_reason,
)
from callgate.transports.relay import synthesize_error

__all__ = ["OVERSIZE", "LineReader", "Oversize", "StdioProxy", "run_stdio"]

CHUNK = 64 * 1024
MAX_TRACKED_REQUESTS = 100_000
"""Requests remembered so they can be answered if the upstream dies (oldest forgotten)."""


MAX_UPSTREAM_BYTES = 64 * 1024 * 1024
"""Limit for one server message: higher than the client's, since results (a file read,
a long tools/list) are legitimately larger than requests."""

HEAD_BYTES = 1024
"""How much of an oversize line is kept, to find the id of the message it held."""

_ID = re.compile(rb'"id"\s*:\s*(-?[0-9]+|"(?:[^"\\]|\\.)*")')


@dataclass(frozen=True, slots=True)
class Oversize:
    """A line longer than the limit: its bytes were discarded but for the first ones."""

    head: bytes

    def request_id(self) -> str | int | None:
        """The message's id when it shows near the start (where every SDK writes it)."""
        found = _ID.search(self.head)
        if found is None:
            return None
        try:
            value = json.loads(found.group(1))
        except ValueError:
            return None
        return value if isinstance(value, str | int) else None


OVERSIZE = Oversize(b"")
"""What `LineReader` returns for an oversize line unless asked to `keep_head`."""


class LineReader:
    """Splits a byte stream into lines, refusing (not buffering) lines over `max_bytes`.

    An oversize line comes back as `OVERSIZE`, or with `keep_head` as an `Oversize` that
    keeps its first bytes (to answer the request it held).
    """

    def __init__(
        self,
        read: Callable[[int], Awaitable[bytes]],
        max_bytes: int,
        *,
        keep_head: bool = False,
    ) -> None:
        self._read = read
        self._max = max_bytes
        self._keep_head = keep_head
        self._buffer = bytearray()
        self._start = 0
        self._scanned = 0  # no newline before this index: each byte is searched once
        self._eof = False

    async def next(self) -> bytes | Oversize | None:
        """The next line without its newline, an `Oversize`, or None at the end."""
        head: bytes | None = None  # set while the rest of an oversize line is skipped
        while True:
            end = self._buffer.find(b"\n", max(self._start, self._scanned))
            if end >= 0:
                line = bytes(self._buffer[self._start : end])
                self._start = self._scanned = end + 1
                if self._start > CHUNK:
                    del self._buffer[: self._start]
                    self._start = self._scanned = 0
                if head is not None:
                    return self._oversize(head)
                if len(line) > self._max:
                    return self._oversize(line[:HEAD_BYTES])
                return line
            if len(self._buffer) - self._start > self._max:
                if head is None:
                    head = bytes(self._buffer[self._start : self._start + HEAD_BYTES])
                self._buffer.clear()
                self._start = 0
            self._scanned = len(self._buffer)
            if self._eof:
                if head is not None:
                    return self._oversize(head)
                rest = bytes(self._buffer[self._start :])
                self._buffer.clear()
                self._start = self._scanned = 0
                return rest if rest.strip() else None
            chunk = await self._read(CHUNK)
            if not chunk:
                self._eof = True
            else:
                self._buffer += chunk

    def _oversize(self, head: bytes) -> Oversize:
        return Oversize(head) if self._keep_head else OVERSIZE


@dataclass
class _ClientOutput:
    """Our stdout: writes whole lines, never interleaved."""

    writer: asyncio.StreamWriter | None
    file: IO[bytes] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    async def write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            if self.writer is not None:
                self.writer.write(data + b"\n")
                if self.writer.transport.get_write_buffer_size() > CHUNK:
                    async with self.lock:
                        await self.writer.drain()
            elif self.file is not None:
                async with self.lock:
                    await asyncio.to_thread(_write_blocking, self.file, data + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True


def _write_blocking(file: IO[bytes], data: bytes) -> None:
    file.write(data)
    file.flush()


@dataclass
class _ClientIO:
    """Our stdin (as a read function) and stdout, and how to release them."""

    read: Callable[[int], Awaitable[bytes]]
    output: _ClientOutput
    read_transport: asyncio.ReadTransport | None = None

    async def aclose(self) -> None:
        """Flush what is buffered for the client, then close both pipe transports."""
        writer = self.output.writer
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
        if self.read_transport is not None:
            self.read_transport.close()


def _is_pipe(file: IO[bytes]) -> bool:
    """Whether the event loop may watch `file`: a pipe or a socket.

    Anything else is read and written from worker threads: asyncio refuses regular files,
    and uvloop aborts the whole process on a regular file or a character device such as
    /dev/null (`callgate run ... < requests.jsonl > answers.jsonl` must work).
    """
    try:
        mode = os.fstat(file.fileno()).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def _open_client_io(stdin: IO[bytes], stdout: IO[bytes]) -> _ClientIO:
    """Async pipes for our stdin/stdout; threads when they are not pipes."""
    loop = asyncio.get_running_loop()
    read: Callable[[int], Awaitable[bytes]]
    read_transport: asyncio.ReadTransport | None = None
    if _is_pipe(stdin):
        reader = asyncio.StreamReader(limit=CHUNK)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), stdin
        )
        read = reader.read
    else:

        async def read(size: int) -> bytes:
            return await asyncio.to_thread(stdin.read1, size)  # type: ignore[attr-defined]

    if not _is_pipe(stdout):
        return _ClientIO(read, _ClientOutput(None, stdout), read_transport)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return _ClientIO(read, _ClientOutput(writer), read_transport)


@dataclass
class StdioProxy:
    """One stdio session: our stdin/stdout on one side, the child process on the other."""

    interceptor: Interceptor
    command: Sequence[str]
    server: str = "default"
    agent: Agent = ANONYMOUS
    max_bytes: int = MAX_MESSAGE_BYTES
    max_upstream_bytes: int = MAX_UPSTREAM_BYTES
    grace: float = 10.0
    """How long a child may take to exit after its stdin closes (it may still be starting:
    a Python server on a loaded machine can take seconds before it reads anything)."""
    call_timeout: float = 600.0
    """How long a batch waits for the server's answer to one of its requests."""
    announcer: ToolListAnnouncer | None = None
    """Told about this session, so a reload that changes hidden tools reaches the client."""
    peer: Peer = field(init=False)
    _requests: dict[str | int, None] = field(default_factory=dict)
    _batches: Batches = field(default_factory=Batches)
    # Batches judged and forwarded, waiting for the server's answers.
    _batch_waits: set[asyncio.Task[None]] = field(default_factory=set)
    _initialize_ids: set[str | int] = field(default_factory=set)
    _calls: set[asyncio.Task[None]] = field(default_factory=set)
    # callgate's own requests to the client (approval prompts), by id, awaiting the answer.
    _asked: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _notes: set[asyncio.Future[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.peer = Peer(
            server=self.server,
            session=uuid.uuid4().hex,
            agent=self.agent,
            client=self,
            notifier=self,
        )

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Tell the client something on callgate's own behalf (`ClientNotifier`)."""
        await self._out.write(encode({"jsonrpc": "2.0", "method": method, "params": params}))

    async def _tools_changed(self) -> None:
        await self.notify(LIST_CHANGED, {})

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Ask the client something on callgate's own behalf (`ClientRequests`)."""
        request_id = f"callgate-{uuid.uuid4().hex}"
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._asked[request_id] = answer
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            await self._out.write(encode(body))
            return await answer
        except asyncio.CancelledError:
            # Tell the client to drop its prompt; written from a task of its own because
            # this one is being cancelled.
            note = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "no longer needed"},
            }
            task = asyncio.ensure_future(self._out.write(encode(note)))
            self._notes.add(task)
            task.add_done_callback(self._notes.discard)
            raise
        finally:
            self._asked.pop(request_id, None)

    def _claim(self, message: Message) -> bool:
        """Consume the client's answer to one of callgate's own requests."""
        if not message.is_response:
            return False
        request_id = message.body.get("id")
        answer = self._asked.get(request_id) if isinstance(request_id, str) else None
        if answer is None or answer.done():
            return False
        answer.set_result(message.body)
        return True

    async def run(self, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) -> int:
        """Proxy until the child exits; returns the exit status to exit with."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,
            )
        except OSError as exc:
            print(f"callgate: cannot start {self.command[0]!r}: {exc}", file=sys.stderr)
            return 127
        assert process.stdin is not None
        assert process.stdout is not None
        self._child_in = process.stdin
        client_io = await _open_client_io(stdin or sys.stdin.buffer, stdout or sys.stdout.buffer)
        read_client, self._out = client_io.read, client_io.output
        if self.announcer is not None:
            self.announcer.join(self.peer.session, self._tools_changed, server=self.server)
        loop = asyncio.get_running_loop()
        forwarded = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, _forward_signal, process, signum)
                forwarded.append(signum)
        client = asyncio.create_task(self._pump_client(read_client, process))
        try:
            server_lines = LineReader(process.stdout.read, self.max_upstream_bytes, keep_head=True)
            await self._pump_server(server_lines)
            await self._upstream_gone()
            client.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client
            await self._stop(process)
        finally:
            if self.announcer is not None:
                self.announcer.leave(self.peer.session)
            for signum in forwarded:
                loop.remove_signal_handler(signum)
            for task in [*self._calls, *self._batch_waits]:
                task.cancel()
            await client_io.aclose()
        return _exit_status(process.returncode)

    # -- client to server -------------------------------------------------------------

    async def _pump_client(
        self, read: Callable[[int], Awaitable[bytes]], process: asyncio.subprocess.Process
    ) -> None:
        lines = LineReader(read, self.max_bytes, keep_head=True)
        while (line := await lines.next()) is not None and not self._out.closed:
            if isinstance(line, Oversize):
                too_big = ParseError(
                    INVALID_REQUEST,
                    f"message larger than {self.max_bytes} bytes",
                    line.request_id(),
                )
                await self._out.write(encode(too_big.response()))
                continue
            if not line.strip():
                continue
            try:
                messages, was_batch = decode(line, max_bytes=self.max_bytes)
            except ParseError as error:
                await self._out.write(encode(error.response()))
                continue
            if was_batch:
                await self._client_batch(messages)
            else:
                message = messages[0]
                assert isinstance(message, Message)
                if message.method == "tools/call":
                    # Judging may wait (store, approvals); other traffic must not.
                    task = asyncio.create_task(self._client_single(message))
                    self._calls.add(task)
                    task.add_done_callback(self._calls.discard)
                else:
                    await self._client_single(message)
        # The client is gone: the stdio shutdown sequence starts with the child's stdin.
        self._child_in.close()
        await self._stop(process)

    async def _judge(self, message: Message) -> Forward | Reply:
        """The interceptor's answer; a crash in it refuses the message (fail closed)."""
        try:
            return await self.interceptor.on_client_message(message, self.peer)
        except Exception:  # any bug must refuse, never forward unjudged
            traceback.print_exc(file=sys.stderr)
            request_id = message.body.get("id")
            return Reply(
                error_response(
                    request_id if isinstance(request_id, str | int) else None,
                    INTERNAL_ERROR,
                    "callgate could not judge this message; it was not forwarded",
                )
            )

    async def _client_single(self, message: Message) -> None:
        if self._claim(message):
            return
        answer = await self._judge(message)
        if isinstance(answer, Reply):
            await self._out.write(encode(answer.body))
            return
        if self._batches and message.method == "notifications/cancelled":
            params = message.body.get("params")
            if isinstance(params, dict):
                self._batches.cancel(params.get("requestId"))
        self._remember(answer.message)
        await self._send_upstream(_bytes_of(answer.message))

    async def _client_batch(self, elements: list[Message | ParseError]) -> None:
        """One array answers the batch: refused whole, or judged in a task of its own."""
        version = self.peer.protocol_version
        if not allows_batches(version):
            refusals = refuse_batch(elements, version)
            if refusals:
                await self._out.write(join(refusals))
            return
        # Judging may wait (store, approvals), and the client's answers to callgate's own
        # questions come in on this same stdin: the pump goes on meanwhile.
        task = asyncio.create_task(self._batch(elements))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _batch(self, elements: list[Message | ParseError]) -> None:
        """Judge each element, forward the allowed ones one by one, answer in one array."""
        batch = Batch()
        for element in elements:
            if isinstance(element, ParseError):
                batch.reply(encode(element.response()))
                continue
            if self._claim(element):
                continue
            refusal = refuse_element(element)
            if refusal is None and element.is_request:
                refusal = self._batches.expect(batch, element.body["id"])
            if refusal is not None:
                batch.reply(refusal)
                continue
            answer = await self._judge(element)
            if isinstance(answer, Reply):
                data = encode(answer.body)
                if not (element.is_request and self._batches.settle(element.body["id"], data)):
                    batch.reply(data)
                continue
            self._remember(answer.message)
            await self._send_upstream(_bytes_of(answer.message))
        batch.seal()
        # Judging is over (the upstream's loss waits for that); the answers come later.
        task = asyncio.create_task(self._answer_batch(batch))
        self._batch_waits.add(task)
        task.add_done_callback(self._batch_waits.discard)

    async def _answer_batch(self, batch: Batch) -> None:
        """Write the batch's one array once every request is answered, or timed out."""
        if not await batch.wait(self.call_timeout):
            await self._abandon(batch)
        if batch.answers:
            await self._out.write(join(batch.answers))

    async def _abandon(self, batch: Batch) -> None:
        """Answer a batch's requests the server left unanswered with a timeout error; the
        server is told to cancel them, and the gate settles them as failed."""
        reason = timeout_reason(self.call_timeout)
        for request_id in self._batches.abandon(batch):
            self._requests.pop(request_id, None)
            data = await synthesize_error(
                self.interceptor, self.peer, request_id, reason, REQUEST_TIMEOUT
            )
            if data is not None:
                batch.reply(data)
            await self._send_upstream(encode(cancel_notice(request_id, reason)))

    async def _answer(self, request_id: str | int, data: bytes) -> None:
        """Write an answer callgate made for a forwarded request, or put it in its batch."""
        if not (self._batches and self._batches.settle(request_id, data)):
            await self._out.write(data)

    def _remember(self, message: Message) -> None:
        body = message.body
        if not message.is_request:
            return
        request_id = body["id"]
        if self._batches:
            self._batches.forget(request_id)
        if len(self._requests) >= MAX_TRACKED_REQUESTS:
            del self._requests[next(iter(self._requests))]
        self._requests[request_id] = None
        if body.get("method") == "initialize":
            self._initialize_ids.add(request_id)

    async def _send_upstream(self, data: bytes) -> None:
        try:
            self._child_in.write(data + b"\n")
            await self._child_in.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child is gone; its stdout's end settles everything

    # -- server to client -------------------------------------------------------------

    async def _pump_server(self, lines: LineReader) -> None:
        while (line := await lines.next()) is not None:
            if isinstance(line, Oversize):
                await self._upstream_oversize(line)
                continue
            if not line.strip():
                continue
            try:
                messages, was_batch = decode(line, max_bytes=self.max_upstream_bytes)
            except ParseError as error:
                print(f"callgate: dropped invalid upstream output: {error}", file=sys.stderr)
                continue
            outgoing: list[bytes] = []
            for message in messages:
                out = await self._server_message(message)
                if out is None:
                    continue
                if (
                    self._batches
                    and isinstance(message, Message)
                    and message.is_response
                    and self._batches.settle(message.body.get("id"), out)
                ):
                    continue  # the answer goes out with the rest of its batch
                outgoing.append(out)
            if not outgoing:
                continue
            await self._out.write(b"[" + b",".join(outgoing) + b"]" if was_batch else outgoing[0])

    async def _server_message(self, message: Message | ParseError) -> bytes | None:
        if isinstance(message, ParseError):
            print(f"callgate: dropped invalid upstream message: {message}", file=sys.stderr)
            return None
        if message.is_response:
            request_id = message.body.get("id")
            if isinstance(request_id, str | int):
                self._requests.pop(request_id, None)
                if request_id in self._initialize_ids:
                    self._initialize_ids.discard(request_id)
                    self._learn_version(message.body)
        try:
            out = await self.interceptor.on_server_message(message, self.peer)
        except Exception:  # a bug must not leak an unfiltered answer
            traceback.print_exc(file=sys.stderr)
            request_id = message.body.get("id")
            if not message.is_response or not isinstance(request_id, str | int):
                return None
            failure = "callgate could not inspect the server's answer; it was withheld"
            return encode(error_response(request_id, INTERNAL_ERROR, failure))
        return None if out is None else _bytes_of(out)

    async def _upstream_oversize(self, line: Oversize) -> None:
        """Drop an upstream message over the limit; answer its request so nobody hangs."""
        limit = self.max_upstream_bytes
        print(f"callgate: dropped an upstream message over {limit} bytes", file=sys.stderr)
        request_id = line.request_id()
        if request_id is not None and self._requests.pop(request_id, 0) is None:
            failure = f"the server's answer was larger than {limit} bytes"
            await self._answer(
                request_id, encode(error_response(request_id, INTERNAL_ERROR, failure))
            )

    def _learn_version(self, body: dict[str, Any]) -> None:
        result = body.get("result")
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        if isinstance(version, str):
            self.peer = replace(self.peer, protocol_version=version)

    async def _upstream_gone(self) -> None:
        # Calls still being judged finish first (briefly), so the reservations they took
        # are in flight when the loss settles them; cancelling them midway could strand
        # a reservation in a shared store.
        if self._calls:
            _, stuck = await asyncio.wait(set(self._calls), timeout=self.grace)
            for task in stuck:
                task.cancel()
        await self.interceptor.on_upstream_lost(self.peer)
        for request_id in list(self._requests):
            error = error_response(request_id, INTERNAL_ERROR, "upstream MCP server exited")
            await self._answer(request_id, encode(error))
        self._requests.clear()
        if self._batch_waits:
            # Every batched request is answered now: let the batches write their arrays.
            await asyncio.wait(set(self._batch_waits), timeout=self.grace)

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        """Wait for the child; SIGTERM then SIGKILL when it outstays `grace`."""
        for escalate in (process.terminate, process.kill):
            try:
                await asyncio.wait_for(process.wait(), self.grace)
                return
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    escalate()
        await process.wait()


def _bytes_of(message: Message) -> bytes:
    return message.raw or encode(message.body)


def _forward_signal(process: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)


def _exit_status(returncode: int | None) -> int:
    if returncode is None:
        return 1
    return 128 - returncode if returncode < 0 else returncode


async def run_stdio(
    interceptor: Interceptor,
    command: Sequence[str],
    *,
    server: str = "default",
    agent: Agent = ANONYMOUS,
    max_bytes: int = MAX_MESSAGE_BYTES,
    call_timeout: float = 600.0,
    announcer: ToolListAnnouncer | None = None,
) -> int:
    """Proxy our stdin/stdout to `command` until it exits; returns its exit status."""
    proxy = StdioProxy(
        interceptor,
        command,
        server=server,
        agent=agent,
        max_bytes=max_bytes,
        call_timeout=call_timeout,
        announcer=announcer,
    )
    return await proxy.run()
