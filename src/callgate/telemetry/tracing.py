"""One OpenTelemetry span per `tools/call`, in the client's trace when it sent one.

The span is written once the call is over (denied at once, or answered by the server),
with the start and end times the gate measured, so making it costs the call nothing while
it is under way. It is a SERVER span named `tools/call <tool>`:

    mcp.method.name       "tools/call"
    gen_ai.tool.name      the tool
    callgate.server       the upstream server's name
    callgate.agent        the calling agent
    callgate.session      the MCP session as callgate knows it
    callgate.decision     allow | deny | hidden | rate_limited | approval_required | would_...
    callgate.rule         the deciding rule (absent when none)
    callgate.enforced     for a shadow verdict, the verdict enforced (allow)
    callgate.category     the tool's risk category (absent when unknown)
    callgate.gate_ms      milliseconds from arrival to the decision
    callgate.upstream_ms  milliseconds from forwarding to the answer (forwarded calls)
    callgate.outcome      ok | tool_error | error | input_required | cancelled | timeout | ...

A call whose `params._meta` carries a W3C `traceparent` (and `tracestate`) continues that
trace: same trace id, the client's span as parent. callgate keeps a `TracerProvider` of its
own, never the process-global one, so an embedding program's tracing is left alone.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from callgate.telemetry.observer import CallMark, decision_label, rule_label
from callgate.telemetry.settings import OTLP_EXTRA, TracingSetupError

__all__ = ["CallTracer", "open_otlp_provider", "provider_with"]

FAILED_OUTCOMES: Final = frozenset({"error", "timeout", "upstream_lost"})
"""Outcomes that mark the span as failed (a tool's own `isError` is an answer, not a fault)."""

_PROPAGATOR: Final = TraceContextTextMapPropagator()


def open_otlp_provider(endpoint: str, service: str = "callgate") -> TracerProvider:
    """A provider exporting spans in batches over OTLP/HTTP to `endpoint` (a traces URL).

    Raises `TracingSetupError` when the optional exporter package is not installed.
    """
    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
        raise TracingSetupError(
            f"traces are configured (OTLP endpoint {endpoint}) but the OTLP exporter is not "
            f"installed: pip install '{OTLP_EXTRA}' (opentelemetry-exporter-otlp-proto-http), "
            "or unset the endpoint"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    return provider_with(OTLPSpanExporter(endpoint=endpoint), service)


def provider_with(exporter: SpanExporter, service: str = "callgate") -> TracerProvider:
    """A provider of callgate's own that hands finished spans to `exporter` in batches."""
    from callgate import __version__  # noqa: PLC0415 - the package root imports much

    resource = Resource.create({"service.name": service, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class CallTracer:
    """Writes the span of one finished call."""

    def __init__(self, provider: TracerProvider) -> None:
        """Spans go to `provider` (shut it down at exit to flush them)."""
        self.provider = provider
        self._tracer = provider.get_tracer("callgate")

    def finish(
        self,
        mark: CallMark,
        *,
        category: str | None,
        outcome: str | None = None,
        upstream_seconds: float | None = None,
    ) -> None:
        """Write the span of `mark`'s call, judged (and answered when forwarded)."""
        call, decision, peer = mark.call, mark.decision, mark.peer
        if call is None or decision is None or peer is None:
            return
        attributes: dict[str, str | float] = {
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": call.tool,
            "callgate.server": call.server,
            "callgate.agent": peer.agent.name,
            "callgate.session": peer.session,
            "callgate.decision": decision_label(decision),
            "callgate.gate_ms": mark.gate_seconds * 1000.0,
        }
        rule = rule_label(decision)
        if rule:
            attributes["callgate.rule"] = rule
        if decision.shadowed is not None:
            attributes["callgate.enforced"] = decision.verdict.value
        if category is not None:
            attributes["callgate.category"] = category
        elapsed = mark.gate_seconds
        if upstream_seconds is not None:
            attributes["callgate.upstream_ms"] = upstream_seconds * 1000.0
            elapsed += upstream_seconds
        if outcome is not None:
            attributes["callgate.outcome"] = outcome
        span = self._tracer.start_span(
            f"tools/call {call.tool}",
            context=_parent(mark),
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=mark.arrived_ns,
        )
        if outcome in FAILED_OUTCOMES:
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end(end_time=mark.arrived_ns + int(elapsed * 1e9))

    def shutdown(self) -> None:
        """Flush the spans still queued and stop exporting."""
        self.provider.shutdown()


def _parent(mark: CallMark) -> Context | None:
    """The client's context from its `traceparent`, or None (a new trace)."""
    if mark.traceparent is None:
        return None
    carrier = {"traceparent": mark.traceparent}
    if mark.tracestate is not None:
        carrier["tracestate"] = mark.tracestate
    return _PROPAGATOR.extract(carrier)
