"""`callgate run --otlp-endpoint`: a stdio proxy sends its spans over OTLP/HTTP.

A real proxy process in front of the SDK fixture server, the SDK client over stdio with a
`traceparent` in `_meta`; the collector is an HTTP server on loopback, and what it got is
decoded with the OTLP protobuf messages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.fixtures.servers.commands import SDK_SERVER, callgate_run, stdio_params
from tests.telemetry.support import ECHO_POLICY, receiving

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def attributes(span: Span) -> dict[str, Any]:
    """A span's attributes as Python values."""
    found: dict[str, Any] = {}
    for item in span.attributes:
        kind = item.value.WhichOneof("value")
        found[item.key] = getattr(item.value, kind) if kind else None
    return found


async def test_spans_reach_the_collector_in_the_clients_trace(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(ECHO_POLICY)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    with receiving() as collector:
        flags = ["--server-name", "fixture", "--otlp-endpoint", collector.url]
        command = callgate_run(policy, tmp_path / "audit", SDK_SERVER, *flags)
        meta: Any = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}
        with anyio.fail_after(60):
            async with Client(stdio_params(command, env), mode="legacy") as client:
                assert not (await client.call_tool("echo", {"text": "hi"}, meta=meta)).is_error
                assert (await client.call_tool("echo", {"text": "a secret"})).is_error
    posts = [(path, body) for method, path, body in collector.received if method == "POST"]
    assert posts and all(path == "/v1/traces" for path, _ in posts)
    spans = []
    for _, body in posts:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "callgate"
            spans += [span for scope in resource.scope_spans for span in scope.spans]
    assert len(spans) == 2
    through, refused = sorted(spans, key=lambda span: span.start_time_unix_nano)
    assert through.name == "tools/call echo"
    assert through.trace_id.hex() == CLIENT_TRACE
    assert through.parent_span_id.hex() == CLIENT_SPAN
    assert attributes(through)["callgate.decision"] == "allow"
    assert attributes(through)["callgate.outcome"] == "ok"
    assert attributes(through)["callgate.upstream_ms"] > 0
    assert refused.trace_id.hex() != CLIENT_TRACE
    assert not refused.parent_span_id
    assert attributes(refused)["callgate.decision"] == "deny"
    assert attributes(refused)["callgate.rule"] == "no-secrets"
