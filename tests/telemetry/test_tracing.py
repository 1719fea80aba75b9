"""One span per `tools/call`, collected with the SDK's in-memory exporter.

The gate and the HTTP listener run in the test's event loop; the traffic is real: the
official SDK client over HTTP in front, the SDK fixture server as a child process behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from callgate.app import GateOptions, open_gate
from callgate.proxy.gate import Gate
from callgate.telemetry.recorder import Telemetry
from callgate.telemetry.tracing import CallTracer
from callgate.transports.http_listener import serve_http
from tests.fixtures.servers.commands import SDK_SERVER
from tests.telemetry.support import ECHO_POLICY

pytestmark = pytest.mark.anyio

CLIENT_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CLIENT_SPAN = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{CLIENT_TRACE:032x}-{CLIENT_SPAN:016x}-01"


@asynccontextmanager
async def traced_proxy(tmp_path: Path, exporter: InMemorySpanExporter) -> AsyncIterator[Any]:
    """A gate with tracing behind the HTTP listener, in front of the SDK fixture server.

    Yields (the listener's /mcp URL, the gate); every span is in `exporter` once it ends.
    Spans are written by the tracer's own thread, and flushed when the proxy closes.
    """
    policy = tmp_path / "policy.yaml"
    policy.write_text(ECHO_POLICY)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer=CallTracer(provider))
    options = GateOptions(policy_path=policy, state_url="memory://", audit=False)
    bound = anyio.Event()
    ports: list[int] = []

    def ready(port: int) -> None:
        ports.append(port)
        bound.set()

    try:
        async with (
            open_gate(options, telemetry=telemetry) as gate,
            anyio.create_task_group() as tg,
        ):
            serve = partial(serve_http, gate, "127.0.0.1", 0, SDK_SERVER, server="fixture")
            tg.start_soon(partial(serve, ready=ready))
            with anyio.fail_after(10):
                await bound.wait()
            yield f"http://127.0.0.1:{ports[0]}/mcp", gate
            tg.cancel_scope.cancel()
    finally:
        telemetry.close()  # the writer thread's queue, flushed to the exporter


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_call_with_a_traceparent_in_meta_continues_the_clients_trace(
    tmp_path: Path,
) -> None:
    exporter = InMemorySpanExporter()
    with anyio.fail_after(60):
        async with (
            traced_proxy(tmp_path, exporter) as (url, gate),
            Client(streamable_http_client(url), mode="legacy") as client,
        ):
            meta: Any = {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}
            allowed = await client.call_tool("echo", {"text": "hello"}, meta=meta)
            denied = await client.call_tool("echo", {"text": "a secret"})
            category = gate.categorize("fixture", "echo") if gate.categorize else None
    assert not allowed.is_error
    assert denied.is_error
    [through, refused] = exporter.get_finished_spans()

    assert through.name == "tools/call echo"
    assert through.kind is SpanKind.SERVER
    assert through.context is not None and through.parent is not None
    assert through.context.trace_id == CLIENT_TRACE
    assert through.parent.span_id == CLIENT_SPAN
    assert through.parent.is_remote
    assert str(through.context.trace_state) == str(through.parent.trace_state)
    assert through.parent.trace_state.get("vendor") == "1"
    seen = attributes(through)
    assert seen["mcp.method.name"] == "tools/call"
    assert seen["gen_ai.tool.name"] == "echo"
    assert seen["callgate.server"] == "fixture"
    assert seen["callgate.decision"] == "allow"
    assert seen["callgate.outcome"] == "ok"
    assert "callgate.rule" not in seen
    assert category is not None and seen["callgate.category"] == category
    assert seen["callgate.upstream_ms"] > 0
    assert through.start_time is not None and through.end_time is not None
    total_ms = (through.end_time - through.start_time) / 1e6
    assert total_ms == pytest.approx(seen["callgate.gate_ms"] + seen["callgate.upstream_ms"])

    assert refused.parent is None  # no traceparent: a trace of its own
    assert refused.context is not None and refused.context.trace_id != CLIENT_TRACE
    seen = attributes(refused)
    assert seen["callgate.decision"] == "deny"
    assert seen["callgate.rule"] == "no-secrets"
    assert "callgate.upstream_ms" not in seen
    assert "callgate.outcome" not in seen
    assert refused.status.status_code is StatusCode.UNSET


async def test_the_http_traceparent_header_is_the_parent_when_meta_has_none(
    tmp_path: Path,
) -> None:
    exporter = InMemorySpanExporter()
    http = httpx2.AsyncClient(headers={"traceparent": TRACEPARENT}, timeout=30)
    with anyio.fail_after(60):
        async with (
            http,
            traced_proxy(tmp_path, exporter) as (url, _),
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            assert not (await client.call_tool("echo", {"text": "hello"})).is_error
    [span] = exporter.get_finished_spans()
    assert span.context is not None and span.parent is not None
    assert span.context.trace_id == CLIENT_TRACE
    assert span.parent.span_id == CLIENT_SPAN


async def test_a_gate_without_telemetry_writes_no_span(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with traced_proxy(tmp_path, exporter) as (url, gate):
        bare: Gate = gate
        bare.telemetry = None
        async with Client(streamable_http_client(url), mode="legacy") as client:
            assert not (await client.call_tool("echo", {"text": "hello"})).is_error
    assert exporter.get_finished_spans() == ()
