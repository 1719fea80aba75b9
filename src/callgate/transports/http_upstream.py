"""A Streamable HTTP MCP server as callgate's upstream, spoken to at the message level.

`HttpUpstream` owns one keep-alive HTTP client for the upstream URL and sends raw
JSON-RPC bytes with the MCP headers the caller chose plus the operator's own headers
(`--header`: the only credentials that ever reach the upstream). Cookies the upstream sets
are never stored, so one client's session cannot leak into another's.

`run_stdio_to_http` is the mode `callgate run --upstream URL`: an MCP client on stdio, the
upstream over HTTP. It plays the HTTP client role for both protocol generations:

- 2025-11-25 and earlier: `initialize` opens a session (`Mcp-Session-Id` from the
  upstream, carried on every later request with `MCP-Protocol-Version`); after
  `notifications/initialized` the server's standalone SSE stream is opened with GET;
  stdin EOF ends the session with DELETE.
- 2026-07-28: each request is a stateless POST whose routing headers (`Mcp-Method`,
  `Mcp-Name`, `Mcp-Param-*`) are built from the body callgate judged; cancelling a
  request closes its response stream.

A response is either JSON or an SSE stream; each event is relayed as it arrives (progress,
server-to-client requests, then the response), and a stream that breaks after an event id
is resumed with `Last-Event-ID`.
"""

from __future__ import annotations

import http.cookiejar
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import anyio
import anyio.abc
import httpx2

from callgate.policy.decision import ANONYMOUS, Agent
from callgate.proxy.announcer import LIST_CHANGED, ToolListAnnouncer
from callgate.proxy.hooks import Forward, Interceptor, Message, Peer
from callgate.proxy.jsonrpc import (
    INVALID_REQUEST,
    MAX_MESSAGE_BYTES,
    ParseError,
    decode,
    encode,
    error_response,
)
from callgate.transports import headers as mcp_headers
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
from callgate.transports.relay import (
    OwnRequests,
    id_key,
    judge_server,
    synthesize_error,
    wire,
)
from callgate.transports.sse import CONTENT_TYPE as SSE_CONTENT_TYPE
from callgate.transports.sse import Event, read_events

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 10.0
READ_TIMEOUT: Final = 300.0
"""Seconds without a byte from the upstream before a response is abandoned (SSE included)."""
RESUME_ATTEMPTS: Final = 2
DEFAULT_RETRY_MS: Final = 1000
MAX_RETRY_MS: Final = 30_000
ACCEPT: Final = "application/json, text/event-stream"

TRANSPORT_ERRORS: Final = (httpx2.TransportError, httpx2.TimeoutException)


class _RefuseCookies(http.cookiejar.DefaultCookiePolicy):
    """Store no cookie: a shared client must not carry one session's cookies into another."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class HttpUpstream:
    """One Streamable HTTP upstream URL behind a shared keep-alive client."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.url = url
        self.max_message_bytes = max_message_bytes
        # The operator's headers (credentials for the upstream); MCP headers win on clash.
        self._headers = {name.lower(): value for name, value in (headers or {}).items()}
        self._client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(CONNECT_TIMEOUT, read=read_timeout),
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
            cookies=http.cookiejar.CookieJar(policy=_RefuseCookies()),
            follow_redirects=False,
        )

    async def __aenter__(self) -> HttpUpstream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._client.aclose()

    @asynccontextmanager
    async def open(
        self, method: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> AsyncIterator[httpx2.Response]:
        """Send one HTTP request and yield the streaming response (closed on exit).

        Raises the `httpx2` transport errors when the upstream cannot be reached.
        """
        merged = {**self._headers, **headers}
        if body is not None:
            merged["content-type"] = "application/json"
        merged.setdefault("accept", ACCEPT)
        request = self._client.build_request(method, self.url, headers=merged, content=body)
        response = await self._client.send(request, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    async def read_body(self, response: httpx2.Response) -> bytes:
        """The whole body of a non-streaming response, refused past the message limit."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_message_bytes:
                raise ParseError(INVALID_REQUEST, "upstream response larger than the message limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def events(self, response: httpx2.Response) -> AsyncIterator[Event]:
        """The SSE events of a response, bounded by the message limit."""
        return read_events(response, self.max_message_bytes)


def is_sse(response: httpx2.Response) -> bool:
    """Whether a response is an event stream."""
    content_type = response.headers.get("content-type", "").partition(";")[0]
    return content_type.strip().lower() == SSE_CONTENT_TYPE


def describe_failure(exc: BaseException) -> str:
    """A one-line reason for a failed upstream exchange."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


Write = Callable[[bytes], None]


@dataclass(slots=True)
class _InFlight:
    """A forwarded request awaiting its response."""

    scope: anyio.CancelScope
    modern: bool


class StdioHttpBridge:
    """One stdio MCP client relayed to one Streamable HTTP upstream, through an interceptor."""

    def __init__(
        self,
        interceptor: Interceptor,
        upstream: HttpUpstream,
        write: Write,
        *,
        server: str,
        agent: Agent = ANONYMOUS,
        announcer: ToolListAnnouncer | None = None,
        call_timeout: float = 600.0,
    ) -> None:
        self._interceptor = interceptor
        self._call_timeout = call_timeout
        self._batches = Batches()
        self._announcer = announcer
        self._upstream = upstream
        self._write = write
        self._server = server
        self._agent = agent
        # The stdio connection is the session callgate judges; the upstream's
        # Mcp-Session-Id (2025-11-25) travels in Peer.extra.
        self._session = f"stdio-{uuid.uuid4().hex[:12]}"
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._in_flight: dict[tuple[bool, Any], _InFlight] = {}
        self._param_headers: dict[str, mcp_headers.ParamHeaders] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._listening = False
        self._upstream_lost = False
        self._own_requests = OwnRequests(self._write_async)

    async def _write_async(self, data: bytes) -> None:
        self._write(data)

    def peer(self, version: str | None = None) -> Peer:
        """The peer for a message, with the per-request version on 2026-07-28."""
        extra = {"mcp_session_id": self.session_id} if self.session_id else {}
        return Peer(
            server=self._server,
            session=self._session,
            agent=self._agent,
            protocol_version=version or self.protocol_version,
            extra=extra,
            client=self._own_requests,
            notifier=self._own_requests,
        )

    async def run(self, lines: AsyncIterator[bytes]) -> int:
        """Relay until the client closes stdin; returns the exit status."""
        if self._announcer is not None:
            # A reload that hides or shows listed tools is announced to the client.
            self._announcer.join(self._session, self._tools_changed, server=self._server)
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                async for line in lines:
                    if line.strip():
                        await self.on_client_frame(line)
                task_group.cancel_scope.cancel()
        finally:
            if self._announcer is not None:
                self._announcer.leave(self._session)
        await self.end_session()
        return 0

    async def _tools_changed(self) -> None:
        await self._own_requests.notify(LIST_CHANGED, {})

    async def on_client_frame(self, line: bytes) -> None:
        """Judge one line from the client and act on each message in it.

        A batch gets one array (see `callgate.transports.batch`): on 2025-03-26 its
        elements are judged and posted one by one and their answers collected; on any
        other version it is refused whole.
        """
        try:
            items, was_batch = decode(line, max_bytes=self._upstream.max_message_bytes)
        except ParseError as exc:
            self._write(encode(exc.response()))
            return
        if not was_batch:
            await self._client_message(items[0], None)
            return
        if not allows_batches(self.protocol_version):
            refusals = refuse_batch(items, self.protocol_version)
            if refusals:
                self._write(join(refusals))
            return
        assert self._task_group is not None
        self._task_group.start_soon(self._batch, items)

    async def _client_message(self, item: Message | ParseError, batch: Batch | None) -> None:
        """Act on one client message; answers go to `batch` when it is an element of one."""
        if isinstance(item, ParseError):
            self._reply(encode(item.response()), batch)
            return
        if self._own_requests.claim(item):
            return
        version = mcp_headers.envelope_version(item.body)
        if batch is not None:
            refusal = refuse_element(item)
            if refusal is None and item.is_request:
                refusal = self._batches.expect(batch, item.body["id"])
            if refusal is not None:
                batch.reply(refusal)
                return
        elif self._batches and item.is_request:
            self._batches.forget(item.body["id"])
        if item.is_request:
            # Judged in its own task: judging may wait (an approval asked of this
            # very client), and the client's answer arrives on this same stdin.
            self._start_request(item, version)
            return
        verdict = await self._interceptor.on_client_message(item, self.peer(version))
        if not isinstance(verdict, Forward):
            self._reply(encode(verdict.body), batch)
            return
        message = verdict.message
        if message.method == "notifications/cancelled":
            if self._cancel_modern(message):
                return
            params = message.body.get("params")
            if self._batches and isinstance(params, dict):
                self._batches.cancel(params.get("requestId"))
        await self._post_one_way(message, version)

    async def _batch(self, items: list[Message | ParseError]) -> None:
        """Judge and post each element of a batch, then write every answer in one array."""
        batch = Batch()
        for item in items:
            await self._client_message(item, batch)
        batch.seal()
        if not await batch.wait(self._call_timeout):
            await self._abandon(batch)
        if batch.answers:
            self._write(join(batch.answers))

    async def _abandon(self, batch: Batch) -> None:
        """Answer a batch's requests the upstream left unanswered with a timeout error;
        their exchanges are ended (the gate settles them) and the upstream told to cancel."""
        reason = timeout_reason(self._call_timeout)
        for request_id in self._batches.abandon(batch):
            batch.reply(encode(error_response(request_id, REQUEST_TIMEOUT, reason)))
            in_flight = self._in_flight.get(id_key(request_id))
            if in_flight is not None:
                in_flight.scope.cancel()
            await self._post_one_way(Message(cancel_notice(request_id, reason)), None)

    def _reply(self, data: bytes, batch: Batch | None) -> None:
        """Answer the client here, or in the batch the message came in."""
        if batch is None:
            self._write(data)
        else:
            batch.reply(data)

    def _deliver(self, request_id: Any, data: bytes) -> None:
        """Write the answer to a request, or keep it for the batch that waits for it."""
        if not (self._batches and self._batches.settle(request_id, data)):
            self._write(data)

    def _start_request(self, message: Message, version: str | None) -> None:
        scope = anyio.CancelScope()
        key = id_key(message.body["id"])
        self._in_flight[key] = _InFlight(scope, mcp_headers.is_modern(version))
        assert self._task_group is not None
        self._task_group.start_soon(self._exchange, message, version, scope, key)

    def _cancel_modern(self, message: Message) -> bool:
        """On 2026-07-28 cancelling means closing the request's stream: no POST is sent."""
        params = message.body.get("params")
        request_id = params.get("requestId") if isinstance(params, dict) else None
        in_flight = self._in_flight.get(id_key(request_id))
        if in_flight is None or not in_flight.modern:
            return False
        in_flight.scope.cancel()
        return True

    def _request_headers(self, message: Message, version: str | None) -> dict[str, str]:
        if mcp_headers.is_modern(version):
            assert version is not None
            return mcp_headers.routing_headers(message.body, version, self._param_headers)
        headers: dict[str, str] = {}
        if self.session_id is not None:
            headers[mcp_headers.SESSION_ID] = self.session_id
        if self.protocol_version is not None and message.method != "initialize":
            headers[mcp_headers.PROTOCOL_VERSION] = self.protocol_version
        return headers

    async def _post_one_way(self, message: Message, version: str | None) -> None:
        """POST a notification or a response; the upstream answers 202 with no body."""
        peer = self.peer(version)
        try:
            async with self._upstream.open(
                "POST", self._request_headers(message, version), wire(message)
            ) as response:
                if response.status_code >= 400:
                    logger.warning(
                        "upstream refused %s with HTTP %d",
                        message.method or "a response",
                        response.status_code,
                    )
        except TRANSPORT_ERRORS as exc:
            await self._lost(peer, exc)
            return
        if message.method == "notifications/initialized" and not self._listening:
            self._listening = True
            assert self._task_group is not None
            self._task_group.start_soon(self._listen)

    async def _exchange(
        self, message: Message, version: str | None, scope: anyio.CancelScope, key: tuple[bool, Any]
    ) -> None:
        """Judge one request, POST it, and relay its response stream up to the response."""
        request_id = message.body["id"]
        peer = self.peer(version)
        answered = forwarded = False
        try:
            with scope:
                verdict = await self._interceptor.on_client_message(message, peer)
                if isinstance(verdict, Forward):
                    forwarded = True
                    answered = await self._post_request(verdict.message, version, peer)
                else:
                    self._deliver(request_id, encode(verdict.body))
                    answered = True
            if scope.cancelled_caught:
                # The client cancelled (2026-07-28): no response is owed, but the
                # interceptor must settle a call it let through.
                if forwarded:
                    reason = "request cancelled by the client"
                    await synthesize_error(self._interceptor, peer, request_id, reason)
                return
        except TRANSPORT_ERRORS as exc:
            reason = f"upstream unreachable ({describe_failure(exc)})"
            answered = await self._answer_unanswered(peer, request_id, reason)
            if isinstance(exc, httpx2.ConnectError):
                await self._lost(peer, exc)
        except ParseError as exc:
            answered = await self._answer_unanswered(peer, request_id, exc.message)
        finally:
            if self._in_flight.get(key) is not None and self._in_flight[key].scope is scope:
                del self._in_flight[key]
        if not answered:
            await self._answer_unanswered(
                peer, request_id, "upstream closed the stream without a response"
            )

    async def _answer_unanswered(self, peer: Peer, request_id: Any, reason: str) -> bool:
        data = await synthesize_error(self._interceptor, peer, request_id, reason)
        if data is not None:
            self._deliver(request_id, data)
        return True

    async def _post_request(self, message: Message, version: str | None, peer: Peer) -> bool:
        """Returns whether the request's response reached the client."""
        request_id = message.body["id"]
        async with self._upstream.open(
            "POST", self._request_headers(message, version), wire(message)
        ) as response:
            if message.method == "initialize" and response.status_code < 400:
                self.session_id = response.headers.get(mcp_headers.SESSION_ID) or self.session_id
            if response.status_code == 202:
                return await self._answer_unanswered(
                    peer, request_id, "upstream answered a request with 202 Accepted"
                )
            if response.status_code >= 400:
                return await self._relay_http_error(response, message, peer)
            if is_sse(response):
                return await self._relay_stream(response, message, peer)
            body = await self._upstream.read_body(response)
            return await self._relay(body, message, peer)

    async def _relay_http_error(
        self, response: httpx2.Response, message: Message, peer: Peer
    ) -> bool:
        request_id = message.body["id"]
        if response.headers.get("content-type", "").lower().startswith("application/json"):
            body = await self._upstream.read_body(response)
            try:
                items, _ = decode(body, max_bytes=self._upstream.max_message_bytes)
            except ParseError:
                items = []
            first = items[0] if items else None
            if isinstance(first, Message) and "error" in first.body:
                # A server may reject before reading the id (`id: null`); this is the answer.
                rewritten = {**first.body, "id": request_id}
                return await self._relay(encode(rewritten), message, peer)
        if response.status_code == 404 and self.session_id is not None:
            reason = "upstream session terminated (HTTP 404)"
        else:
            reason = f"upstream answered HTTP {response.status_code}"
        return await self._answer_unanswered(peer, request_id, reason)

    async def _relay(self, data: bytes, request: Message | None, peer: Peer) -> bool:
        """Relay one server frame; returns whether it held the response to `request`."""
        out, kept = await judge_server(
            self._interceptor, data, peer, self._upstream.max_message_bytes
        )
        if out is not None and self._batches:
            for message in kept:
                if message.is_response:
                    self._deliver(message.body.get("id"), wire(message))
                else:
                    self._write(wire(message))
        elif out is not None:
            self._write(out)
        if request is None:
            return False
        request_id = id_key(request.body["id"])
        for server_message in kept:
            if server_message.is_response and id_key(server_message.body.get("id")) == request_id:
                self._learn(request, server_message)
                return True
        return False

    def _learn(self, request: Message, response: Message) -> None:
        """Remember what later requests need: negotiated version, tool input schemas."""
        result = response.body.get("result")
        if not isinstance(result, dict):
            return
        if request.method == "initialize":
            version = result.get("protocolVersion")
            self.protocol_version = version if isinstance(version, str) else None
        elif request.method == "tools/list":
            for tool in result.get("tools") or []:
                if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                    declared = mcp_headers.param_header_map(tool.get("inputSchema"))
                    if declared:
                        self._param_headers[tool["name"]] = declared
                    else:
                        self._param_headers.pop(tool["name"], None)

    async def _relay_stream(self, response: httpx2.Response, request: Message, peer: Peer) -> bool:
        """Relay an SSE response; resume it with Last-Event-ID if it breaks after an id."""
        last_id: str | None = None
        try:
            async for event in self._upstream.events(response):
                last_id = event.id or last_id
                if event.data and await self._relay(event.data, request, peer):
                    return True
        except httpx2.SSEError as exc:
            logger.warning("upstream SSE stream failed: %s", exc)
            return False
        except TRANSPORT_ERRORS as exc:
            logger.info("upstream SSE stream broke: %s", describe_failure(exc))
        if last_id is None:
            return False
        return await self._resume(request, peer, last_id)

    async def _resume(self, request: Message, peer: Peer, last_id: str) -> bool:
        for _ in range(RESUME_ATTEMPTS):
            headers = self._request_headers(request, peer.protocol_version)
            headers[mcp_headers.LAST_EVENT_ID] = last_id
            try:
                async with self._upstream.open("GET", headers) as response:
                    if response.status_code != 200 or not is_sse(response):
                        return False
                    async for event in self._upstream.events(response):
                        last_id = event.id or last_id
                        if event.data and await self._relay(event.data, request, peer):
                            return True
            except TRANSPORT_ERRORS as exc:
                logger.info("resuming the upstream stream failed: %s", describe_failure(exc))
                if isinstance(exc, httpx2.ConnectError):
                    await self._lost(peer, exc)
                    return False
        return False

    async def _listen(self) -> None:
        """Relay the server's standalone SSE stream (2025-11-25 sessions) while it lasts.

        A stream the server ends after sending event ids is reopened with `Last-Event-ID`
        (after its `retry` hint); failures in a row end the listening after a few tries.
        """
        last_id: str | None = None
        retry_ms = DEFAULT_RETRY_MS
        failures = 0
        while failures <= RESUME_ATTEMPTS:
            headers = self._request_headers(Message({}), None)
            if last_id is not None:
                headers[mcp_headers.LAST_EVENT_ID] = last_id
            try:
                async with self._upstream.open("GET", headers) as response:
                    if response.status_code != 200 or not is_sse(response):
                        status = response.status_code
                        logger.debug("upstream offers no standalone stream (HTTP %d)", status)
                        return
                    failures = 0
                    async for event in self._upstream.events(response):
                        last_id = event.id or last_id
                        retry_ms = event.retry if event.retry is not None else retry_ms
                        if event.data:
                            await self._relay(event.data, None, self.peer())
            except (httpx2.SSEError, *TRANSPORT_ERRORS) as exc:
                logger.info("upstream standalone stream broke: %s", describe_failure(exc))
                failures += 1
            if last_id is None:
                return
            await anyio.sleep(min(retry_ms, MAX_RETRY_MS) / 1000)

    async def _lost(self, peer: Peer, exc: BaseException) -> None:
        """The upstream could not be reached: log once per outage and settle the peer's calls."""
        if not self._upstream_lost:
            logger.error("upstream %s unreachable: %s", self._upstream.url, describe_failure(exc))
        self._upstream_lost = True
        await self._interceptor.on_upstream_lost(peer)

    async def end_session(self) -> None:
        """End a 2025-11-25 session with DELETE (best effort) and settle what is in flight."""
        if self.session_id is None:
            await self._interceptor.on_upstream_lost(self.peer())
            return
        headers = self._request_headers(Message({}), None)
        with anyio.move_on_after(CONNECT_TIMEOUT, shield=True):
            try:
                async with self._upstream.open("DELETE", headers) as response:
                    logger.debug("session ended: HTTP %d", response.status_code)
            except TRANSPORT_ERRORS as exc:
                logger.info("ending the upstream session failed: %s", describe_failure(exc))
        await self._interceptor.on_upstream_lost(self.peer())


async def read_lines(stream: BinaryIO, max_bytes: int) -> AsyncIterator[bytes]:
    """Lines of a blocking byte stream (stdin), read in a worker thread.

    A line longer than `max_bytes` is consumed to its end and yielded as a too-large
    marker (a line the decoder refuses), so one oversized message loses nothing else.
    """
    limit = max_bytes + 1
    while True:
        line = await anyio.to_thread.run_sync(stream.readline, limit, abandon_on_cancel=True)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:
                rest = await anyio.to_thread.run_sync(
                    stream.readline, limit, abandon_on_cancel=True
                )
                if not rest or rest.endswith(b"\n"):
                    break
        yield line


def stdout_writer(stream: BinaryIO) -> Write:
    """Write one JSON-RPC message per line and flush it at once."""

    def write(data: bytes) -> None:
        stream.write(data + b"\n")
        stream.flush()

    return write


async def run_stdio_to_http(
    interceptor: Interceptor,
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    server: str = "upstream",
    agent: Agent = ANONYMOUS,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    announcer: ToolListAnnouncer | None = None,
    call_timeout: float = 600.0,
) -> int:
    """Relay an MCP client on stdio to the Streamable HTTP server at `url`; returns 0 at EOF.

    `call_timeout` bounds how long a batch waits for the answer to one of its requests.
    """
    async with HttpUpstream(url, headers, max_message_bytes=max_message_bytes) as upstream:
        bridge = StdioHttpBridge(
            interceptor,
            upstream,
            stdout_writer(stdout or sys.stdout.buffer),
            server=server,
            agent=agent,
            announcer=announcer,
            call_timeout=call_timeout,
        )
        return await bridge.run(read_lines(stdin or sys.stdin.buffer, max_message_bytes))
