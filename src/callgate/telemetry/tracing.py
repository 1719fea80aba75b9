"""One OpenTelemetry span per `tools/call`, in the client's trace when it sent one.

The span is written once the call is over (denied at once, or answered by the server),
with the start and end times the gate measured, by a thread of its own: on the event loop
a finished call is only queued, so making its span costs the calls nothing while they
are under way. It is a SERVER span named `tools/call <tool>`:

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
import threading
from collections import deque
from dataclasses import dataclass
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

WRITE_INTERVAL: Final = 1.0
"""Seconds between two turns of the span writer (sooner when `BATCH` calls wait)."""
BATCH: Final = 256
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


@dataclass(frozen=True, slots=True)
class _Finished:
    """A call that is over, waiting for its span to be written."""

    mark: CallMark
    category: str | None
    outcome: str | None
    upstream_seconds: float | None


class CallTracer:
    """Writes the span of each finished call, from a thread of its own.

    `finish` only queues the call (on the event loop, so a few microseconds); a writer
    thread turns the queue into spans every `interval` seconds, or as soon as `batch`
    calls wait, and hands them to the provider's processors (whose exporter sends them
    from its own thread). `flush` writes what waits now; `shutdown` also stops exporting.
    """

    def __init__(
        self, provider: TracerProvider, *, interval: float = WRITE_INTERVAL, batch: int = BATCH
    ) -> None:
        """Spans go to `provider` (`shutdown` at exit flushes them)."""
        self.provider = provider
        self._tracer = provider.get_tracer("callgate")
        self._batch = batch
        self._finished: deque[_Finished] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._writer = threading.Thread(
            target=self._write_loop, args=(interval,), name="callgate-spans", daemon=True
        )
        self._writer.start()

    def finish(
        self,
        mark: CallMark,
        *,
        category: str | None,
        outcome: str | None = None,
        upstream_seconds: float | None = None,
    ) -> None:
        """Queue the span of `mark`'s call, judged (and answered when forwarded)."""
        finished = self._finished
        finished.append(_Finished(mark, category, outcome, upstream_seconds))
        if len(finished) >= self._batch:
            self._wake.set()

    def flush(self) -> None:
        """Write every span still queued and have the processors export them."""
        self._write_pending()
        self.provider.force_flush()

    def shutdown(self) -> None:
        """Stop the writer, write what is queued, flush and stop exporting."""
        self._stopping = True
        self._wake.set()
        self._writer.join()
        self._write_pending()
        self.provider.shutdown()

    def _write_loop(self, interval: float) -> None:
        while not self._stopping:
            self._wake.wait(interval)
            self._wake.clear()
            self._write_pending()

    def _write_pending(self) -> None:
        finished = self._finished
        while finished:
            try:
                self._write(finished.popleft())
            except IndexError:  # another thread (flush) took the last one
                return

    def _write(self, finished: _Finished) -> None:
        mark = finished.mark
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
        if finished.category is not None:
            attributes["callgate.category"] = finished.category
        elapsed = mark.gate_seconds
        if finished.upstream_seconds is not None:
            attributes["callgate.upstream_ms"] = finished.upstream_seconds * 1000.0
            elapsed += finished.upstream_seconds
        outcome = finished.outcome
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


def _parent(mark: CallMark) -> Context | None:
    """The client's context from its `traceparent`, or None (a new trace)."""
    if mark.traceparent is None:
        return None
    carrier = {"traceparent": mark.traceparent}
    if mark.tracestate is not None:
        carrier["tracestate"] = mark.tracestate
    return _PROPAGATOR.extract(carrier)
