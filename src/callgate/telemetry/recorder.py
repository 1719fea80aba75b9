"""`Telemetry`: the gate's `CallObserver` over the metric families and the tracer.

On a call's path it does little: a mark at arrival (two clock reads; the `traceparent` is
looked up only when tracing), and at the decision one counter and one histogram through
cached series. The span of a forwarded call is written when its answer is settled, after
the answer went out.

Beside the calls, the composition root wraps pieces in counting adapters: the counter
store (`CountingStore`: failures by operation), the approvals seam (`HeldApprovals`: calls
held for a person now), and the policy watcher's reports (`count_reload`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from callgate.policy.decision import Decision, ToolCall
from callgate.proxy.catalog import ToolCatalog
from callgate.proxy.gate import Approvals
from callgate.proxy.hooks import Peer
from callgate.state.counters import Charge, CounterKey, Guard
from callgate.state.store import CounterStore, Rejection, Reservation, StoreUnavailable
from callgate.telemetry.metrics import CallMetrics
from callgate.telemetry.observer import CallMark
from callgate.telemetry.tracing import CallTracer

__all__ = ["CountingStore", "HeldApprovals", "Telemetry"]

T = TypeVar("T")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


@dataclass(eq=False)
class Telemetry:
    """Metrics, traces, or both, for every `tools/call` the gate judges."""

    metrics: CallMetrics | None = None
    tracer: CallTracer | None = None
    categorize: Callable[[str, str], str | None] | None = None
    """(server, tool) -> risk category, for the span (the gate's own cached classifier)."""

    def arrived(self, params: dict[str, Any], peer: Peer) -> CallMark:
        """Start the mark; the client's trace context is read only when tracing."""
        if self.tracer is None:
            return CallMark(time.perf_counter(), 0)
        mark = CallMark(time.perf_counter(), time.time_ns())
        meta = params.get("_meta")
        carrier: Mapping[str, Any] = meta if isinstance(meta, dict) else {}
        if not isinstance(carrier.get(TRACEPARENT), str):
            carrier = peer.extra  # the HTTP request's own header, when it had one
        parent = carrier.get(TRACEPARENT)
        if isinstance(parent, str):
            mark.traceparent = parent
            state = carrier.get(TRACESTATE)
            mark.tracestate = state if isinstance(state, str) else None
        return mark

    def judged(
        self, mark: CallMark, peer: Peer, call: ToolCall, decision: Decision, *, forwarded: bool
    ) -> None:
        """Count the decision; a call that is not forwarded gets its span now."""
        mark.gate_seconds = seconds = time.perf_counter() - mark.arrived
        mark.peer, mark.call, mark.decision = peer, call, decision
        if self.metrics is not None:
            self.metrics.judged(peer.server, call.tool, decision, seconds)
        if self.tracer is not None and not forwarded:
            self.tracer.finish(mark, category=self._category(call))

    def answered(self, mark: CallMark, outcome: str, upstream_seconds: float) -> None:
        """Time the answer and write the span of the forwarded call."""
        call = mark.call
        if call is None:  # never judged (cannot happen for a forwarded call)
            return
        if self.metrics is not None:
            self.metrics.answered(call.server, outcome, upstream_seconds)
        if self.tracer is not None:
            self.tracer.finish(
                mark,
                category=self._category(call),
                outcome=outcome,
                upstream_seconds=upstream_seconds,
            )

    def _category(self, call: ToolCall) -> str | None:
        return self.categorize(call.server, call.tool) if self.categorize is not None else None

    def attach(self, catalog: ToolCatalog, categorize: Callable[[str, str], str | None]) -> None:
        """Name tools the servers listed in `catalog`; give spans the risk `categorize` says."""
        self.categorize = categorize
        if self.metrics is not None:
            self.metrics.tools.listed = lambda server, tool: (
                catalog.definition(server, tool) is not None
            )

    # -- beside the calls -----------------------------------------------------------------

    def count_reload(self, applied: bool) -> None:
        """One edit of the policy file, applied or rejected."""
        if self.metrics is not None:
            self.metrics.reloads.labels("applied" if applied else "rejected").inc()

    def count_rejections(
        self, report: Callable[[Path, Exception], None]
    ) -> Callable[[Path, Exception], None]:
        """`report` (the watcher's report of an invalid edit), counting each rejection."""

        def counted(path: Path, error: Exception) -> None:
            self.count_reload(applied=False)
            report(path, error)

        return counted

    async def on_reload(self, old: object, new: object) -> None:
        """The watcher's listener: a valid edit took effect."""
        self.count_reload(applied=True)

    def watch_store(self, store: CounterStore) -> CounterStore:
        """`store`, its failures counted (unchanged when metrics are off)."""
        if self.metrics is None:
            return store
        return CountingStore(store, self.metrics.store_errors.labels)

    def watch_approvals(self, approvals: Approvals) -> Approvals:
        """The gate's approvals seam, counting the calls it holds (unchanged when off)."""
        if self.metrics is None:
            return approvals
        return HeldApprovals(approvals, self.metrics.approvals_pending.labels)

    def close(self) -> None:
        """Flush the spans still queued."""
        if self.tracer is not None:
            self.tracer.shutdown()


class CountingStore:
    """A `CounterStore` that counts the operations failing with `StoreUnavailable`."""

    def __init__(self, inner: CounterStore, errors: Callable[[str], Any]) -> None:
        """`errors(operation)` is the counter series of one operation."""
        self.inner = inner
        self._errors = errors

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Read through, counting a failure."""
        return await self._counted("read", self.inner.read(keys, now))

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Guard],
        now: float,
    ) -> Reservation | Rejection:
        """Reserve through, counting a failure."""
        return await self._counted("reserve", self.inner.reserve(charges, guards, now))

    async def commit(self, reservation: Reservation, now: float) -> None:
        """Commit through, counting a failure."""
        await self._counted("commit", self.inner.commit(reservation, now))

    async def rollback(self, reservation: Reservation, now: float) -> None:
        """Roll back through, counting a failure."""
        await self._counted("rollback", self.inner.rollback(reservation, now))

    async def _counted(self, operation: str, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except StoreUnavailable:
            self._errors(operation).inc()
            raise

    async def aclose(self) -> None:
        """Close the store underneath."""
        await self.inner.aclose()


class HeldApprovals:
    """The gate's approvals seam, with a gauge of the calls held while a person decides."""

    def __init__(self, inner: Approvals, pending: Callable[[str], Any]) -> None:
        """`inner` is the real seam; `pending(server)` the gauge's series of one server."""
        self.inner = inner
        self._pending = pending

    async def resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        """Ask the real seam, counted as held until it answers (or the call is cancelled)."""
        gauge = self._pending(call.server)
        gauge.inc()
        try:
            return await self.inner.resolve(call, decision, peer)
        finally:
            gauge.dec()
