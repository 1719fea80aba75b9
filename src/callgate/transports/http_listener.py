"""`callgate run --listen HOST:PORT`: a Streamable HTTP endpoint at `/mcp` in front of an upstream.

Every request is checked before anything else: Host and Origin against the host policy
(DNS-rebinding protection), the body against the size limit and the strict codec. Each
client message (each element of a batch) then goes through the interceptor; a `Reply` is
answered here and never forwarded. What is forwarded goes to a backend:

- `HttpBackend`: another Streamable HTTP server (`--upstream URL`). Requests are relayed
  with only the MCP protocol headers of the client (never its `Authorization` or cookies)
  plus the operator's `--header`s; JSON and SSE answers come back as they are, event ids
  included, with every server message shown to the interceptor on the way.
- `ChildBackend` (`-- CMD`, in `http_children.py`): stdio children, one per 2025-11-25
  session and one shared child for stateless 2026-07-28 requests.

Who is calling (`Peer`): `session` is the `Mcp-Session-Id` on 2025-11-25 (a provisional
`initialize-…` key for the `initialize` exchange itself, before the upstream has named
the session); on 2026-07-28 it is `<agent>/<Callgate-Session header or "default">`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, Final

import anyio
import anyio.abc
import httpx2
import uvicorn
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from callgate.policy.decision import ANONYMOUS, Agent
from callgate.proxy.announcer import LIST_CHANGED, ToolListAnnouncer
from callgate.proxy.gate import EXCHANGE
from callgate.proxy.hooks import (
    OPENED_SESSION,
    ClientNotifier,
    ClientRequests,
    Forward,
    Interceptor,
    Message,
    Peer,
)
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
    BATCH_VERSION,
    REQUEST_TIMEOUT,
    Batch,
    allows_batches,
    cancel_notice,
    join,
    refuse_batch,
    refuse_element,
    repeated_id,
    timeout_reason,
)
from callgate.transports.exchange import Answer, Backend, Outgoing
from callgate.transports.http_children import SUBSCRIPTION_ID, ChildBackend
from callgate.transports.http_upstream import (
    TRANSPORT_ERRORS,
    HttpUpstream,
    describe_failure,
    is_sse,
)
from callgate.transports.relay import (
    UPSTREAM_ERROR,
    Judged,
    OwnNotices,
    OwnRequests,
    Questions,
    claim_answer,
    id_key,
    judge_client,
    judge_server,
    synthesize_error,
    wire,
)
from callgate.transports.security import HostPolicy, is_loopback
from callgate.transports.sse import HEADERS as SSE_HEADERS
from callgate.transports.sse import Event, encode_event

logger = logging.getLogger(__name__)

PATH: Final = "/mcp"
ADMIN_PATH: Final = "/admin"
METRICS_PATH: Final = "/metrics"
CONSOLE_PATH: Final = "/console"
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
MAX_OWNED_SESSIONS: Final = 10_000
JSON: Final = "application/json"
SPARE_SWITCH: Final = "CALLGATE_SPARE_CHILD"
"""Environment variable: `0` starts `-- CMD` children only when a session needs one."""
LISTEN: Final = "subscriptions/listen"
LISTEN_ACK: Final = "notifications/subscriptions/acknowledged"
TOOLS_CHANGED: Final = encode({"jsonrpc": "2.0", "method": LIST_CHANGED})

Authenticate = Callable[[Headers], Agent | None]
"""Maps a request's headers to the calling agent, or None to refuse it (HTTP 401)."""


def json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with the exact bytes of `body`."""
    data = body if isinstance(body, bytes) else encode(body)
    return Response(data, status_code=status, media_type=JSON, headers=dict(headers or {}))


def error_answer(status: int, code: int, message: str, request_id: Any = None) -> Response:
    """A JSON-RPC error as an HTTP response."""
    return json_answer(status, error_response(request_id, code, message))


class HttpBackend:
    """Relays to a Streamable HTTP upstream over one shared keep-alive client."""

    def __init__(self, upstream: HttpUpstream) -> None:
        self._upstream = upstream

    async def post(self, outgoing: Outgoing) -> Answer:
        headers = dict(outgoing.headers)
        [message] = outgoing.messages  # batches are split before they reach a backend
        if outgoing.modern and outgoing.version is not None:
            # Rebuilt from the body callgate judged (it may have been rewritten); the
            # client's own copies were already checked against its body.
            headers.update(mcp_headers.routing_headers(message.body, outgoing.version))
        return await self._open("POST", headers, wire(message))

    async def get(self, outgoing: Outgoing) -> Answer:
        return await self._open("GET", outgoing.headers, None)

    async def delete(self, outgoing: Outgoing) -> Answer:
        return await self._open("DELETE", outgoing.headers, None)

    async def aclose(self) -> None:
        await self._upstream.aclose()

    async def _open(self, method: str, headers: dict[str, str], body: bytes | None) -> Answer:
        stack = AsyncExitStack()
        try:
            response = await stack.enter_async_context(self._upstream.open(method, headers, body))
        except BaseException:
            await stack.aclose()
            raise
        relayed = {
            name: value
            for name, value in response.headers.items()
            if name.lower() in (mcp_headers.SESSION_ID, "allow")
        }
        if is_sse(response):
            frames = self._upstream.events(response)
            return Answer(response.status_code, relayed, frames, True, stack.aclose)
        data = await self._upstream.read_body(response)
        await stack.aclose()
        if not data.strip():
            return Answer(response.status_code, relayed)
        if not response.headers.get("content-type", "").lower().startswith(JSON):
            # Not JSON-RPC (a proxy's HTML error page, say): say so in JSON-RPC terms.
            reason = f"upstream answered HTTP {response.status_code} without a JSON-RPC body"
            data = encode(error_response(None, UPSTREAM_ERROR, reason))
        return Answer(response.status_code, relayed, _one(Event(data)), False)


async def _one(event: Event) -> AsyncIterator[Event]:
    yield event


@dataclass(slots=True)
class _Exchange:
    """One HTTP exchange in progress: the request, where to answer, and what was judged."""

    request: Request
    send: Send
    peer: Peer
    judged: Judged = field(default_factory=Judged)
    started: bool = False
    """The SSE response began while judging (callgate asked the client something)."""

    @property
    def lists_tools(self) -> set[Any]:
        """Ids of the `tools/list` requests this exchange forwarded."""
        return {id_key(m.body["id"]) for m in self.judged.requests if m.method == "tools/list"}

    async def respond(self, response: Response) -> None:
        await response(self.request.scope, self.request.receive, self.send)

    async def start_stream(
        self, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        """Begin an SSE response (once)."""
        if self.started:
            return
        self.started = True
        merged = {**SSE_HEADERS, **(headers or {})}
        raw = [(name.encode(), value.encode()) for name, value in merged.items()]
        await self.send({"type": "http.response.start", "status": status, "headers": raw})

    async def ask(self, data: bytes) -> None:
        """Write one of callgate's own requests to the client on this exchange's stream."""
        await self.start_stream()
        await _send_event(self.send, Event(data))

    async def finish_stream(self, bodies: list[Any]) -> None:
        """Write the last messages as events and end the stream."""
        await self.finish_stream_with([encode(body) for body in bodies])

    async def finish_stream_with(self, frames: list[bytes]) -> None:
        """Write the last encoded frames as events and end the stream."""
        for data in frames:
            await _send_event(self.send, Event(data))
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def notice(self, data: bytes) -> None:
        """Write a server message on this exchange's stream, starting it (once)."""
        await self.start_stream()
        await _send_event(self.send, Event(data))


@dataclass
class Listener:
    """The ASGI endpoint: checks, judges, and relays one HTTP exchange at a time."""

    interceptor: Interceptor
    backend: Backend
    server: str = "upstream"
    host_policy: HostPolicy = field(default_factory=HostPolicy)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    authenticate: Authenticate | None = None
    owners: OrderedDict[str, str] = field(default_factory=OrderedDict)
    questions: Questions = field(default_factory=dict)
    param_schemas: dict[str, Any] = field(default_factory=dict)
    """Input schemas of the tools that declare `Mcp-Param-*` headers, by tool name."""
    """callgate's open questions to clients, answered by a later POST of the same client."""
    """Session id -> the agent that opened it; another agent's requests get 404."""
    announcer: ToolListAnnouncer | None = None
    """Where sessions that listed tools are enrolled, to hear that a reload changed them."""
    standalone: dict[str, MemoryObjectSendStream[bytes]] = field(default_factory=dict)
    """2025-11-25 session id -> its open GET stream's channel for callgate's own notices."""
    unsent: OrderedDict[str, None] = field(default_factory=OrderedDict)
    """Sessions told their tools changed while no GET stream was open (for the next GET)."""
    streams: set[anyio.CancelScope] = field(default_factory=set)
    """The SSE streams open now, so a shutdown can end them at once."""
    call_timeout: float = 600.0
    """How long a batch waits for the server's answer to one of its requests."""

    def close_streams(self) -> None:
        """End every open SSE stream (shutdown: clients see their streams close)."""
        for scope in list(self.streams):
            scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = self._refuse(request)
        if response is None:
            if request.method == "POST":
                await self._post(request, send)
                return
            if request.method in ("GET", "DELETE"):
                await self._session_request(request, send)
                return
            response = Response(status_code=405, headers={"allow": "GET, POST, DELETE"})
        await response(scope, receive, send)

    def _refuse(self, request: Request) -> Response | None:
        refusal = self.host_policy.check(request.headers.get("host"), request.headers.get("origin"))
        if refusal is not None:
            logger.warning("refused a request: %s", refusal.reason)
            return error_answer(refusal.status, INVALID_REQUEST, refusal.reason)
        agent = self._agent(request)
        if agent is None:
            return error_answer(401, INVALID_REQUEST, "unknown or missing agent credentials")
        session = request.headers.get(mcp_headers.SESSION_ID)
        owner = self.owners.get(session) if session is not None else None
        if owner is not None and owner != agent.name:
            # Answer as for an unknown session: do not confirm that it exists.
            logger.warning("agent %r used a session opened by another agent", agent.name)
            return error_answer(404, INVALID_REQUEST, "session not found")
        return None

    def _own(self, request: Request, answer: Answer, agent: Agent) -> None:
        """Remember who opened a session, and forget sessions that ended."""
        session = answer.headers.get(mcp_headers.SESSION_ID)
        if request.method == "DELETE" and answer.status < 300:
            self.owners.pop(request.headers.get(mcp_headers.SESSION_ID) or "", None)
        elif session is not None and mcp_headers.SESSION_ID not in request.headers:
            self.owners[session] = agent.name
            if len(self.owners) > MAX_OWNED_SESSIONS:
                self.owners.popitem(last=False)

    def _agent(self, request: Request) -> Agent | None:
        return ANONYMOUS if self.authenticate is None else self.authenticate(request.headers)

    def _peer(
        self,
        request: Request,
        version: str | None,
        session: str | None,
        client: ClientRequests | None = None,
        notifier: ClientNotifier | None = None,
    ) -> Peer:
        agent = self._agent(request) or ANONYMOUS
        extra: dict[str, str] = {}
        traceparent = request.headers.get(TRACEPARENT)
        if traceparent is not None:
            # The request's trace context, for telemetry when `_meta` carries none.
            extra[TRACEPARENT] = traceparent
            state = request.headers.get(TRACESTATE)
            if state is not None:
                extra[TRACESTATE] = state
        if mcp_headers.is_modern(version):
            key = request.headers.get(mcp_headers.CALLGATE_SESSION) or "default"
            session = f"{agent.name}/{key}"
            # Clients sharing this session reuse request ids: track calls per exchange.
            extra[EXCHANGE] = f"exchange-{uuid.uuid4().hex}"
        return Peer(
            server=self.server,
            session=session or f"initialize-{uuid.uuid4().hex[:12]}",
            agent=agent,
            protocol_version=version,
            extra=extra,
            client=client,
            notifier=notifier,
        )

    async def _read_body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_message_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_message_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _check_post(self, request: Request) -> Response | tuple[list[Any], bool, str | None]:
        """Refuse a POST that cannot be forwarded, or return its decoded messages and version."""
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type != JSON:
            return error_answer(415, INVALID_REQUEST, "Content-Type must be application/json")
        body = await self._read_body(request)
        if body is None:
            limit = self.max_message_bytes
            return error_answer(413, INVALID_REQUEST, f"body larger than {limit} bytes")
        try:
            items, was_batch = decode(body, max_bytes=self.max_message_bytes)
        except ParseError as exc:
            return json_answer(400, exc.response())
        first = items[0]
        version = request.headers.get(mcp_headers.PROTOCOL_VERSION)
        if isinstance(first, Message):
            version = version or mcp_headers.envelope_version(first.body)
            if not was_batch and first.is_request:
                mismatch = mcp_headers.routing_mismatch(_raw_headers(request), first.body)
                if mismatch is None:
                    mismatch = self._param_mismatch(request, first.body)
                if mismatch is not None:
                    code = mcp_headers.HEADER_MISMATCH
                    return error_answer(400, code, mismatch, first.body.get("id"))
        return items, was_batch, version

    def _param_mismatch(self, request: Request, body: dict[str, Any]) -> str | None:
        """Why a tools/call's `Mcp-Param-*` headers disagree with its arguments, or None.

        Checked for tools whose `x-mcp-header` declarations callgate saw in a `tools/list`
        answer; the SDK's validator is only loaded once such a tool exists.
        """
        if not self.param_schemas or body.get("method") != "tools/call":
            return None
        params = body.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        schema = self.param_schemas.get(name) if isinstance(name, str) else None
        if schema is None or not isinstance(params, dict):
            return None
        arguments = params.get("arguments")
        from mcp.shared.inbound import validate_mcp_param_headers  # noqa: PLC0415

        rejection = validate_mcp_param_headers(
            schema, arguments if isinstance(arguments, dict) else {}, request.headers
        )
        return None if rejection is None else rejection.message

    async def _post(self, request: Request, send: Send) -> None:
        checked = await self._check_post(request)
        if isinstance(checked, Response):
            await checked(request.scope, request.receive, send)
            return
        items, was_batch, version = checked
        items = [
            item
            for item in items
            if not (isinstance(item, Message) and claim_answer(self.questions, item))
        ]
        if not items:
            await Response(status_code=202)(request.scope, request.receive, send)
            return
        if was_batch:
            await self._post_batch(request, send, items, version)
            return
        exchange = self._exchange(request, send, version)
        exchange.judged = judged = await judge_client(self.interceptor, items, exchange.peer)
        peer = exchange.peer
        if not judged.forward:
            if exchange.started:
                await exchange.finish_stream(judged.replies)
            elif judged.replies:
                await exchange.respond(json_answer(200, judged.replies[0]))
            else:
                await exchange.respond(Response(status_code=202))
            return
        outgoing = Outgoing(
            judged.forward,
            mcp_headers.forwardable(request.headers.items()),
            peer,
            _accepts_sse(request),
            version,
        )
        try:
            answer = await self.backend.post(outgoing)
        except TRANSPORT_ERRORS as exc:
            await self._upstream_failed(exchange, exc)
            return
        self._own(request, answer, peer.agent)
        opened = answer.headers.get(mcp_headers.SESSION_ID)
        if opened is not None and mcp_headers.SESSION_ID not in request.headers:
            # The server's answer to initialize: tell the interceptor the session it opened.
            exchange.peer = replace(peer, extra={**peer.extra, OPENED_SESSION: opened})
        await self._relay(exchange, answer)

    def _exchange(self, request: Request, send: Send, version: str | None) -> _Exchange:
        """A POST's exchange, with the channels callgate may use while judging it."""
        exchange = _Exchange(request, send, ANONYMOUS_PEER, Judged())
        client: ClientRequests | None = None
        notifier: ClientNotifier | None = None
        if _accepts_sse(request):
            # callgate may tell this client something while judging (progress while a
            # call waits for approval) and, on 2025-11-25, ask it something (an approval
            # prompt): both go out on this POST's own SSE response.
            if mcp_headers.is_modern(version):
                notifier = OwnNotices(exchange.ask)
            else:
                client = notifier = OwnRequests(exchange.ask, self.questions)
        session = request.headers.get(mcp_headers.SESSION_ID)
        exchange.peer = self._peer(request, version, session, client, notifier)
        return exchange

    async def _post_batch(
        self, request: Request, send: Send, items: list[Message | ParseError], version: str | None
    ) -> None:
        """Answer a batch with one array (see `callgate.transports.batch`).

        Without `MCP-Protocol-Version` the client speaks 2025-03-26 (Streamable HTTP's
        rule), where batches exist: each element is judged, the allowed ones are posted
        upstream one by one, and every answer goes into one array, as JSON or as the last
        event of an SSE response (server messages on the way are relayed before it when
        the client accepts SSE). Any other version is refused whole (HTTP 400).
        """
        if not allows_batches(version or BATCH_VERSION):
            refusals = refuse_batch(items, version)
            body = join(refusals) if refusals else _batch_refusal(version)
            await json_answer(400, body)(request.scope, request.receive, send)
            return
        exchange = self._exchange(request, send, version)
        batch = Batch()
        forward: list[Message] = []
        ids: set[Any] = set()
        for item in items:
            if isinstance(item, ParseError):
                batch.reply(encode(item.response()))
                continue
            refusal = refuse_element(item)
            if refusal is None and item.is_request:
                key = id_key(item.body["id"])
                refusal = repeated_id(item.body["id"]) if key in ids else None
                ids.add(key)
            if refusal is not None:
                batch.reply(refusal)
                continue
            verdict = await self.interceptor.on_client_message(item, exchange.peer)
            if isinstance(verdict, Forward):
                forward.append(verdict.message)
            else:
                batch.reply(encode(verdict.body))
        answered: set[Any] = set()
        headers = mcp_headers.forwardable(request.headers.items())
        with anyio.move_on_after(self.call_timeout):
            async with anyio.create_task_group() as group:
                for message in forward:
                    group.start_soon(
                        self._post_element, exchange, message, headers, batch, answered
                    )
        await self._abandon(exchange, forward, headers, batch, answered)
        if exchange.started:
            await exchange.finish_stream_with([join(batch.answers)] if batch.answers else [])
        elif batch.answers:
            await exchange.respond(json_answer(200, join(batch.answers)))
        else:
            await exchange.respond(Response(status_code=202))

    async def _post_element(
        self,
        exchange: _Exchange,
        message: Message,
        headers: dict[str, str],
        batch: Batch,
        answered: set[Any],
    ) -> None:
        """Post one batch element upstream; its answer goes into `batch`."""
        peer = exchange.peer
        own = _Exchange(exchange.request, exchange.send, peer, Judged(forward=[message]))
        outgoing = Outgoing(
            [message], headers, peer, _accepts_sse(exchange.request), peer.protocol_version
        )
        request_id = message.body.get("id") if message.is_request else None
        try:
            answer = await self.backend.post(outgoing)
        except TRANSPORT_ERRORS as exc:
            reason = f"upstream unreachable ({describe_failure(exc)})"
            logger.error("%s", reason)  # noqa: TRY400 - the cause is in the message
            if message.is_request:
                data = await synthesize_error(self.interceptor, peer, request_id, reason)
                answered.add(id_key(request_id))
                if data is not None:
                    batch.reply(data)
            await self.interceptor.on_upstream_lost(peer)
            return
        try:
            async for event in answer.frames or _no_frames():
                _, kept = await self._judge_frame(event, own)
                for server_message in kept:
                    body = server_message.body
                    if (
                        message.is_request
                        and server_message.is_response
                        and (id_key(body.get("id")) == id_key(request_id) or body.get("id") is None)
                    ):
                        # A server may refuse before reading the id (`id: null`).
                        answered.add(id_key(request_id))
                        batch.reply(encode({**body, "id": request_id}))
                    elif _accepts_sse(exchange.request):
                        await exchange.notice(wire(server_message))
                if id_key(request_id) in answered:
                    return
        except (httpx2.SSEError, *TRANSPORT_ERRORS) as exc:
            logger.warning("upstream stream broke: %s", describe_failure(exc))
        finally:
            if answer.close is not None:
                with anyio.CancelScope(shield=True):
                    await answer.close()
        if message.is_request:
            reason = "upstream ended the stream unanswered"
            data = await synthesize_error(self.interceptor, peer, request_id, reason)
            answered.add(id_key(request_id))
            if data is not None:
                batch.reply(data)

    async def _abandon(
        self,
        exchange: _Exchange,
        forward: list[Message],
        headers: dict[str, str],
        batch: Batch,
        answered: set[Any],
    ) -> None:
        """Answer the batch's requests the upstream left unanswered with a timeout error;
        the gate settles them, and the upstream is told to cancel them."""
        reason = timeout_reason(self.call_timeout)
        peer = exchange.peer
        for message in forward:
            if not message.is_request or id_key(message.body["id"]) in answered:
                continue
            request_id = message.body["id"]
            data = await synthesize_error(
                self.interceptor, peer, request_id, reason, REQUEST_TIMEOUT
            )
            if data is not None:
                batch.reply(data)
            cancel = Message(cancel_notice(request_id, reason))
            note = Outgoing([cancel], headers, peer, False, peer.protocol_version)
            with suppress(*TRANSPORT_ERRORS):
                answer = await self.backend.post(note)
                if answer.close is not None:
                    await answer.close()

    async def _upstream_failed(self, exchange: _Exchange, exc: BaseException) -> None:
        reason = f"upstream unreachable ({describe_failure(exc)})"
        logger.error("%s", reason)
        answers: list[Any] = []
        for message in exchange.judged.requests:
            data = encode(error_response(message.body["id"], UPSTREAM_ERROR, reason))
            out, _ = await judge_server(
                self.interceptor, data, exchange.peer, self.max_message_bytes
            )
            if out is not None:
                answers.append(_loads(out))
        await self.interceptor.on_upstream_lost(exchange.peer)
        if exchange.started:
            await exchange.finish_stream(answers)
            return
        if not answers:
            await exchange.respond(error_answer(502, UPSTREAM_ERROR, reason))
            return
        await exchange.respond(json_answer(200, answers[0]))

    async def _relay(self, exchange: _Exchange, answer: Answer) -> None:
        """Send the backend's answer on, every server message judged on the way."""
        try:
            if answer.frames is None:
                if exchange.started:
                    await exchange.finish_stream(exchange.judged.replies)
                else:
                    await self._relay_json(exchange, answer, None)
                return
            frames = aiter(answer.frames)
            waiting = {id_key(m.body["id"]) for m in exchange.judged.requests}
            if answer.sse or exchange.started:
                # A stream stays open for events yet to come: answer with headers now.
                await self._relay_stream(exchange, answer, [], frames, waiting)
                return
            try:
                first = await anext(frames, None)
            except (httpx2.SSEError, *TRANSPORT_ERRORS) as exc:
                logger.info("upstream stream ended: %s", describe_failure(exc))
                first = None
            first_data, answered = await self._judge(first, exchange)
            sse: bool | None = answer.sse
            if sse is None:
                complete = first is not None and waiting <= answered
                sse = not complete or bool(exchange.judged.replies)
            if not sse:
                if answer.sse is None and first_data is not None:
                    answer.status = _error_status(first_data, exchange.peer, answer.status)
                await self._relay_json(exchange, answer, first_data)
                return
            head = []
            if first is not None and (first_data is not None or not first.data):
                head.append(Event(first_data or b"", first.id, first.retry, first.event))
            await self._relay_stream(exchange, answer, head, frames, waiting - answered)
        finally:
            if answer.close is not None:
                with anyio.CancelScope(shield=True):
                    await answer.close()

    async def _judge(
        self, event: Event | None, exchange: _Exchange
    ) -> tuple[bytes | None, set[Any]]:
        """Judge one server frame; returns what to relay and the ids it answers."""
        out, kept = await self._judge_frame(event, exchange)
        return out, {id_key(m.body.get("id")) for m in kept if m.is_response}

    async def _judge_frame(
        self, event: Event | None, exchange: _Exchange
    ) -> tuple[bytes | None, list[Message]]:
        """Judge one server frame; returns what to relay and the messages kept."""
        if event is None or not event.data:
            return None, []
        out, kept = await judge_server(
            self.interceptor, event.data, exchange.peer, self.max_message_bytes
        )
        if exchange.lists_tools and any(m.is_response for m in kept):
            self._learn_tools(exchange, kept)
            self._enrol(exchange)
        return out, kept

    def _enrol(self, exchange: _Exchange) -> None:
        """A 2025-11-25 session listed tools: tell it (on its GET stream) when they change."""
        session = exchange.request.headers.get(mcp_headers.SESSION_ID)
        peer = exchange.peer
        if (
            self.announcer is None
            or session is None
            or mcp_headers.is_modern(peer.protocol_version)
        ):
            return
        key = ("http-session", session)
        if key not in self.announcer:

            async def notify() -> None:
                self._tell_session(session)

            self.announcer.join(key, notify)

    def _tell_session(self, session: str) -> None:
        """Queue one `tools/list_changed` on the session's GET stream, or for its next one."""
        channel = self.standalone.get(session)
        if channel is not None:
            _offer(channel, TOOLS_CHANGED)
            return
        self.unsent[session] = None
        if len(self.unsent) > MAX_OWNED_SESSIONS:
            self.unsent.popitem(last=False)

    def _own_notices(
        self, exchange: _Exchange, answer: Answer, head: list[Event]
    ) -> _OwnNotices | None:
        """The channel for callgate's own notices on a stream that can carry them.

        A 2025-11-25 session's standalone GET stream; or a 2026-07-28 `subscriptions/listen`
        stream that asked for tool changes, once the server acknowledged it (the ack must
        be the first frame the client sees).
        """
        if self.announcer is None or answer.status != 200:
            return None
        if exchange.request.method == "GET":
            session = exchange.request.headers.get(mcp_headers.SESSION_ID)
            if session is None or session in self.standalone:
                return None
            notices = _OwnNotices(session, *anyio.create_memory_object_stream[bytes](1))
            self.standalone[session] = notices.sink
            if session in self.unsent:
                del self.unsent[session]
                _offer(notices.sink, TOOLS_CHANGED)
            return notices
        listen = _listen_request(exchange.judged.requests)
        if listen is None:
            return None
        subscription = listen.body["id"]
        meta = {SUBSCRIPTION_ID: subscription}
        body = {"jsonrpc": "2.0", "method": LIST_CHANGED, "params": {"_meta": meta}}
        notices = _OwnNotices(None, *anyio.create_memory_object_stream[bytes](1), encode(body))
        notices.subscription = subscription
        for event in head:
            self._watch_ack(notices, event)
        return notices

    def _watch_ack(self, notices: _OwnNotices, event: Event) -> None:
        """Enrol a listen stream once the server's ack honouring tool changes went by."""
        if (
            notices.subscription is None
            or notices.enrolled
            or LISTEN_ACK.encode() not in event.data
        ):
            return
        body = _loads(event.data)
        if not isinstance(body, dict) or not _acks_tool_changes(body, notices.subscription):
            return
        assert self.announcer is not None
        sink, message = notices.sink, notices.message

        async def notify() -> None:
            _offer(sink, message)

        notices.enrolled = True
        self.announcer.join(("listen", id(notices)), notify)

    def _close_notices(self, notices: _OwnNotices) -> None:
        notices.sink.close()
        notices.source.close()
        if notices.session is not None and self.standalone.get(notices.session) is notices.sink:
            del self.standalone[notices.session]
        if notices.enrolled and self.announcer is not None:
            self.announcer.leave(("listen", id(notices)))

    def _learn_tools(self, exchange: _Exchange, kept: list[Message]) -> None:
        """Remember the `x-mcp-header` declarations of the tools a `tools/list` answer names."""
        listing = exchange.lists_tools
        for message in kept:
            result = message.body.get("result")
            if id_key(message.body.get("id")) not in listing or not isinstance(result, dict):
                continue
            for tool in result.get("tools") or []:
                name = tool.get("name") if isinstance(tool, dict) else None
                if not isinstance(name, str):
                    continue
                schema = tool.get("inputSchema")
                if mcp_headers.param_header_map(schema):
                    self.param_schemas[name] = schema
                else:
                    self.param_schemas.pop(name, None)

    async def _relay_json(self, exchange: _Exchange, answer: Answer, data: bytes | None) -> None:
        if data is None:
            await exchange.respond(Response(status_code=answer.status, headers=answer.headers))
        else:
            await exchange.respond(json_answer(answer.status, data, answer.headers))

    async def _relay_stream(
        self,
        exchange: _Exchange,
        answer: Answer,
        head: list[Event],
        frames: AsyncIterator[Event],
        waiting: set[Any],
    ) -> None:
        """Stream events until every request in `waiting` is answered or the stream ends.

        Ending at the last response matters: a server may hold its stream open a while
        after answering, and the client would wait for the close.
        """
        send = exchange.send
        await exchange.start_stream(answer.status, answer.headers)
        for reply in exchange.judged.replies:
            await _send_event(send, Event(encode(reply)))
        for event in head:
            await _send_event(send, event)
        streaming = bool(waiting) or not exchange.judged.requests
        ended = _StreamEnd(resumable=any(event.id for event in head))
        notices = self._own_notices(exchange, answer, head) if streaming else None
        try:
            await self._stream_events(exchange, frames, waiting, ended, notices)
        finally:
            if notices is not None:
                self._close_notices(notices)

    async def _stream_events(
        self,
        exchange: _Exchange,
        frames: AsyncIterator[Event],
        waiting: set[Any],
        ended: _StreamEnd,
        notices: _OwnNotices | None,
    ) -> None:
        send = exchange.send
        streaming = bool(waiting) or not exchange.judged.requests

        async def pump(cancel: anyio.CancelScope) -> None:
            try:
                async for event in frames:
                    ended.resumable = ended.resumable or event.id is not None
                    data, answered = await self._judge(event, exchange)
                    if data is not None or not event.data:
                        await _send_event(
                            send, Event(data or b"", event.id, event.retry, event.event)
                        )
                    if notices is not None and data is not None:
                        self._watch_ack(notices, Event(data))
                    waiting.difference_update(answered)
                    if exchange.judged.requests and not waiting:
                        break
                ended.upstream = True
            except (httpx2.SSEError, *TRANSPORT_ERRORS) as exc:
                logger.warning("upstream stream broke: %s", describe_failure(exc))
                ended.upstream = ended.broken = True
            cancel.cancel()

        async def watch_disconnect(cancel: anyio.CancelScope) -> None:
            while (await exchange.request.receive())["type"] != "http.disconnect":
                pass
            cancel.cancel()

        async def tell(source: MemoryObjectReceiveStream[bytes]) -> None:
            async for data in source:
                await _send_event(send, Event(data))

        if streaming:
            scope: anyio.CancelScope | None = None
            try:
                async with anyio.create_task_group() as task_group:
                    scope = task_group.cancel_scope
                    self.streams.add(scope)
                    task_group.start_soon(pump, scope)
                    task_group.start_soon(watch_disconnect, scope)
                    if notices is not None:
                        task_group.start_soon(tell, notices.source)
            finally:
                if scope is not None:
                    self.streams.discard(scope)
        if waiting and not ended.upstream and mcp_headers.is_modern(exchange.peer.protocol_version):
            # On 2026-07-28 a client closing its stream cancels the request: settle it.
            for key in waiting:
                await synthesize_error(self.interceptor, exchange.peer, key[1], "cancelled")
        elif waiting and ended.upstream and (ended.broken or not ended.resumable):
            # No answer will come (the upstream broke the stream, or ended it with no
            # event id to resume from): answer here, and let the interceptor settle.
            await self._answer_abandoned(exchange, waiting, ended.broken)
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            logger.debug("client went away before the stream closed")

    async def _answer_abandoned(self, exchange: _Exchange, waiting: set[Any], broken: bool) -> None:
        reason = "upstream connection lost" if broken else "upstream ended the stream unanswered"
        for key in waiting:
            data = await synthesize_error(self.interceptor, exchange.peer, key[1], reason)
            if data is not None:
                await _send_event(exchange.send, Event(data))
        if broken:
            await self.interceptor.on_upstream_lost(exchange.peer)

    async def _session_request(self, request: Request, send: Send) -> None:
        """GET (the standalone stream) and DELETE (end the session)."""
        version = request.headers.get(mcp_headers.PROTOCOL_VERSION)
        session = request.headers.get(mcp_headers.SESSION_ID)
        peer = self._peer(request, version, session)
        exchange = _Exchange(request, send, peer)
        forwarded = mcp_headers.forwardable(request.headers.items())
        outgoing = Outgoing([], forwarded, peer, True, version)
        try:
            if request.method == "GET":
                answer = await self.backend.get(outgoing)
            else:
                answer = await self.backend.delete(outgoing)
        except TRANSPORT_ERRORS as exc:
            reason = f"upstream unreachable ({describe_failure(exc)})"
            logger.error("%s", reason)  # noqa: TRY400 - the cause is in the message
            await self.interceptor.on_upstream_lost(peer)
            await exchange.respond(error_answer(502, UPSTREAM_ERROR, reason))
            return
        if request.method == "DELETE" and answer.status < 300 and session is not None:
            await self.interceptor.on_upstream_lost(peer)
            if self.announcer is not None:
                self.announcer.leave(("http-session", session))
            self.unsent.pop(session, None)
        self._own(request, answer, peer.agent)
        await self._relay(exchange, answer)


@dataclass(eq=False)
class _OwnNotices:
    """callgate's own notifications for one open stream, queued by the announcer."""

    session: str | None
    """The 2025-11-25 session whose GET stream this is; None for a listen stream."""
    sink: MemoryObjectSendStream[bytes]
    source: MemoryObjectReceiveStream[bytes]
    message: bytes = TOOLS_CHANGED
    subscription: Any = None
    """The `subscriptions/listen` request id this stream answers (its frames carry it)."""
    enrolled: bool = False


def _offer(sink: MemoryObjectSendStream[bytes], data: bytes) -> None:
    """Queue `data` unless one is already waiting (change notices are level triggers)."""
    with suppress(anyio.WouldBlock):
        sink.send_nowait(data)


def _listen_request(requests: list[Message]) -> Message | None:
    """The exchange's `subscriptions/listen` request when it asked for tool changes."""
    if len(requests) != 1 or requests[0].method != LISTEN:
        return None
    params = requests[0].body.get("params")
    wanted = params.get("notifications") if isinstance(params, dict) else None
    if not isinstance(wanted, dict) or wanted.get("toolsListChanged") is not True:
        return None
    return requests[0]


def _acks_tool_changes(body: dict[str, Any], subscription: Any) -> bool:
    """Whether `body` is the server's ack of `subscription` that honours tool changes."""
    params = body.get("params")
    if body.get("method") != LISTEN_ACK or not isinstance(params, dict):
        return False
    meta = params.get("_meta")
    honored = params.get("notifications")
    return (
        isinstance(meta, dict)
        and id_key(meta.get(SUBSCRIPTION_ID)) == id_key(subscription)
        and isinstance(honored, dict)
        and honored.get("toolsListChanged") is True
    )


@dataclass(slots=True)
class _StreamEnd:
    """How a relayed stream ended."""

    resumable: bool = False
    upstream: bool = False
    broken: bool = False


ANONYMOUS_PEER: Final = Peer(server="", session="")


# The HTTP status a 2026-07-28 server gives a JSON-RPC error (the SDK's table).
ERROR_STATUS: Final = {
    -32700: 400,  # parse error
    -32600: 400,  # invalid request
    -32602: 400,  # invalid params
    -32020: 400,  # header mismatch
    -32021: 400,  # missing required client capability
    -32022: 400,  # unsupported protocol version
    -32601: 404,  # method not found
}


def _error_status(data: bytes, peer: Peer, status: int) -> int:
    """On 2026-07-28 a single error response carries its code's HTTP status."""
    if status != 200 or not mcp_headers.is_modern(peer.protocol_version) or b'"error"' not in data:
        return status
    body = _loads(data)
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return ERROR_STATUS.get(code, status) if isinstance(code, int) else status


def _batch_refusal(version: str | None) -> bytes:
    """The answer to a batch of notifications only, refused whole: one error, no id."""
    reason = f"JSON-RPC batches are not part of MCP protocol {version} (removed in 2025-06-18)"
    return encode(error_response(None, INVALID_REQUEST, reason))


async def _no_frames() -> AsyncIterator[Event]:
    return
    yield


def _accepts_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _constant(agent: Agent) -> Authenticate:
    def authenticate(headers: Headers) -> Agent:
        return agent

    return authenticate


def _raw_headers(request: Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]


def _loads(data: bytes) -> Any:
    """Parse bytes callgate produced or already checked."""
    items, was_batch = decode(data)
    bodies = [item.body for item in items if isinstance(item, Message)]
    return bodies if was_batch else bodies[0]


async def _send_event(send: Send, event: Event) -> None:
    await send({"type": "http.response.body", "body": encode_event(event), "more_body": True})


class _Server(uvicorn.Server):
    """uvicorn's server, minus its re-raising of SIGINT/SIGTERM when `serve` ends: that
    would kill the process before the stdio children are stopped and the audit log is
    flushed. callgate shuts down in order and exits normally instead."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        """`on_exit` runs on the event loop once a shutdown signal arrives (open streams
        end then, so the graceful shutdown neither waits for them nor cancels them
        mid-write with a traceback)."""
        super().__init__(config)
        self._on_exit = on_exit
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_exit)


def build_app(
    listener: Listener,
    admin: ASGIApp | None = None,
    metrics: ASGIApp | None = None,
    console: ASGIApp | None = None,
) -> Starlette:
    """The Starlette application: `/mcp`, the operators' `admin` app under `/admin`, their
    `console` under `/console` and the Prometheus `metrics` app at `/metrics` when given
    (behind the same Host/Origin checks; each checks its own token)."""
    routes: list[BaseRoute] = [Route(PATH, listener, methods=["GET", "POST", "DELETE"])]
    if admin is not None:
        routes.append(Mount(ADMIN_PATH, app=_host_checked(admin, listener.host_policy)))
    if console is not None:
        routes.append(Mount(CONSOLE_PATH, app=_host_checked(console, listener.host_policy)))
    if metrics is not None:
        endpoint = _Endpoint(_host_checked(metrics, listener.host_policy))
        routes.append(Route(METRICS_PATH, endpoint, methods=["GET"]))
    return Starlette(routes=routes)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """An ASGI app as a route's endpoint (a plain function would be taken for a handler of
    requests)."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _host_checked(app: ASGIApp, policy: HostPolicy) -> ASGIApp:
    """`app` behind the listener's DNS-rebinding check."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        refusal = policy.check(headers.get("host"), headers.get("origin"))
        if refusal is None:
            await app(scope, receive, send)
            return
        logger.warning("refused an operator request: %s", refusal.reason)
        answer = json_answer(refusal.status, {"error": refusal.reason})
        await answer(scope, receive, send)

    return checked


async def serve_http(
    interceptor: Interceptor,
    host: str,
    port: int,
    upstream: str | Sequence[str],
    *,
    headers: Mapping[str, str] | None = None,
    server: str = "upstream",
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    allowed_hosts: Sequence[str] = (),
    agent: Agent = ANONYMOUS,
    authenticate: Authenticate | None = None,
    ready: Callable[[int], None] | None = None,
    admin: ASGIApp | None = None,
    metrics: ASGIApp | None = None,
    announcer: ToolListAnnouncer | None = None,
    call_timeout: float = 600.0,
    console: ASGIApp | None = None,
) -> int:
    """Serve `/mcp` on HOST:PORT in front of a URL or a command until stopped; returns 0.

    `port` 0 picks a free port; `ready` is told the bound port once the socket listens
    (by default the address is announced on stderr). Requests name the agent through
    `authenticate`; without it every request is `agent`. Host headers must name loopback,
    the listen address, or one of `allowed_hosts`. `admin` (the approvals admin API) is
    served under `/admin` when given, `metrics` (the Prometheus scrape) at `/metrics`, the
    operator `console` under `/console`.
    Sessions that list tools are enrolled with `announcer`, so a reload that hides or
    shows tools reaches them.
    """
    if not is_loopback(host):
        logger.warning(
            "listening on %s, beyond loopback: only requests whose Host names loopback, %s "
            "or an allowed host are served",
            host,
            host,
        )
    policy = HostPolicy.allowing([*allowed_hosts, *([] if is_loopback(host) else [host])])
    backend: Backend
    if isinstance(upstream, str):
        backend = HttpBackend(HttpUpstream(upstream, headers, max_message_bytes=max_message_bytes))
    else:
        # A spare child is kept warm unless the operator says not to (a server whose start
        # has side effects, or costs too much to keep one idle).
        spare = os.environ.get(SPARE_SWITCH, "1").strip() != "0"
        backend = ChildBackend(
            list(upstream), interceptor, max_message_bytes=max_message_bytes, spare=spare
        )
    if authenticate is None and agent != ANONYMOUS:
        authenticate = _constant(agent)
    listener = Listener(interceptor, backend, server, policy, max_message_bytes, authenticate)
    listener.announcer = announcer
    listener.call_timeout = call_timeout
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(listener, admin, metrics, console),
        log_level="warning",
        lifespan="off",
        # Open SSE streams would otherwise hold a graceful shutdown forever.
        timeout_graceful_shutdown=2,
    )
    uv = _Server(config, on_exit=listener.close_streams)
    logger.info("callgate listening on http://%s:%d%s", host, bound, PATH)
    if ready is None:
        shown = f"[{host}]" if ":" in host else host
        print(f"callgate listening on http://{shown}:{bound}{PATH}", file=sys.stderr, flush=True)
    try:
        async with anyio.create_task_group() as task_group:
            if isinstance(backend, ChildBackend):
                await backend.start(task_group)
            if ready is not None:
                ready(bound)
            await uv.serve(sockets=[sock])
            task_group.cancel_scope.cancel()
    finally:
        sock.close()
        with anyio.CancelScope(shield=True):
            await backend.aclose()
    return 0
