"""The port between the gate and telemetry: what the gate says about one `tools/call`.

The gate makes a `CallMark` when a call arrives, says once how it was judged, and once
(for a call it forwarded) how the server answered. Marks carry the times and the client's
trace context, so a span can be written after the answer, off the call's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from callgate.policy.decision import Decision, ToolCall
from callgate.proxy.hooks import Peer


@dataclass(slots=True)
class CallMark:
    """One `tools/call` as telemetry follows it from arrival to answer."""

    arrived: float
    """`time.perf_counter()` when the gate took the call up."""
    arrived_ns: int
    """Wall-clock time of arrival (`time.time_ns()`), the span's start (0 when not tracing)."""
    traceparent: str | None = None
    """The W3C `traceparent` the client sent (`params._meta`, else the HTTP header)."""
    tracestate: str | None = None
    peer: Peer | None = None
    call: ToolCall | None = None
    decision: Decision | None = None
    gate_seconds: float = 0.0


class CallObserver(Protocol):
    """What the gate tells telemetry (`Gate.telemetry`; None: nothing is observed)."""

    def arrived(self, params: dict[str, Any], peer: Peer) -> CallMark:
        """A call arrived: start its mark (cheap: two clock reads, a dict lookup)."""
        ...

    def judged(
        self, mark: CallMark, peer: Peer, call: ToolCall, decision: Decision, *, forwarded: bool
    ) -> None:
        """The gate decided; for a call not `forwarded` upstream this is the last word."""
        ...

    def answered(self, mark: CallMark, outcome: str, upstream_seconds: float) -> None:
        """The server answered a forwarded call (or it timed out, was cancelled, lost)."""
        ...


def decision_label(decision: Decision) -> str:
    """The `decision` label: the verdict, or what a shadow rule would have done
    (`would_deny`, `would_rate_limit`, `would_require_approval`) to a call it let through."""
    shadow = decision.shadowed
    return decision.verdict.value if shadow is None else shadow.verdict.value


def rule_label(decision: Decision) -> str:
    """The `rule` label: the deciding rule (the shadow rule's for a shadow verdict), or ""."""
    shadow = decision.shadowed
    return (decision.rule or "") if shadow is None else shadow.rule
