"""The Prometheus families callgate keeps, and labels that stay bounded.

    callgate_decisions_total{server, tool, decision, rule}   counter, one per judged call
    callgate_gate_seconds{server, decision}                   histogram, arrival to decision
    callgate_upstream_seconds{server, outcome}                histogram, forward to answer
    callgate_approvals_pending{server}                        gauge, calls held for a person
    callgate_store_errors_total{operation}                    counter, counter store failures
    callgate_policy_reloads_total{result}                     counter, applied | rejected

`decision` is the verdict (`allow`, `deny`, `hidden`, `rate_limited`,
`approval_required`); a shadow rule's verdict is labelled apart (`would_deny`, ...). `rule`
is the deciding rule's name ("" when none decided). `tool` is the tool's name when the
server listed it, or among the first `MAX_UNLISTED_TOOLS` other names a server's calls
used; any other name is `_other`, so a client calling random names cannot grow the series
without bound.

The families live in a registry of their own. In multiprocess mode (`use_directory`,
before the first family is made) each process writes its values to files in a shared
directory, and the gauge counts live processes only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

from callgate.policy.decision import Decision
from callgate.telemetry.observer import decision_label, rule_label

__all__ = [
    "MAX_UNLISTED_TOOLS",
    "MULTIPROCESS_VARIABLE",
    "OTHER_TOOL",
    "CallMetrics",
    "ToolLabels",
    "use_directory",
]

MULTIPROCESS_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
OTHER_TOOL: Final = "_other"
MAX_UNLISTED_TOOLS: Final = 100
"""Per server: names outside the server's own listing that still get a label of their own."""
MAX_CHILDREN: Final = 50_000
"""Label sets whose series are cached for a fast lookup (beyond: looked up each time)."""

GATE_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0,
)  # fmt: skip
"""Seconds: judging takes well under a millisecond; a wait for approval takes minutes."""
UPSTREAM_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
)  # fmt: skip


def use_directory(path: str) -> None:
    """Write every family made from now on to files in `path` (multiprocess mode).

    `prometheus_client` picks its value class when it is imported, from the environment;
    the variable is set for it, and the class switched if it was imported already.
    """
    os.environ[MULTIPROCESS_VARIABLE] = path
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class ToolLabels:
    """The `tool` label of a call: bounded per server (see the module docstring)."""

    def __init__(
        self, listed: Callable[[str, str], bool] | None = None, cap: int = MAX_UNLISTED_TOOLS
    ) -> None:
        """`listed(server, tool)` says whether the server listed the tool."""
        self.listed = listed
        self._cap = cap
        self._named: set[tuple[str, str]] = set()
        self._unlisted: dict[str, int] = {}

    def label(self, server: str, tool: str) -> str:
        """`tool` itself when known or within the cap, else `_other`."""
        key = (server, tool)
        if key in self._named:
            return tool
        if self.listed is not None and self.listed(server, tool):
            self._named.add(key)
            return tool
        used = self._unlisted.get(server, 0)
        if used >= self._cap:
            return OTHER_TOOL
        self._unlisted[server] = used + 1
        self._named.add(key)
        return tool


class CallMetrics:
    """The families, in their own registry, with the children in use cached."""

    def __init__(self, tools: ToolLabels | None = None) -> None:
        """Make the families (multiprocess mode must be chosen before: `use_directory`)."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.tools = tools or ToolLabels()
        registry = self.registry
        self.decisions = Counter(
            "callgate_decisions",
            "tools/call decisions, by upstream server, tool, decision and deciding rule.",
            ["server", "tool", "decision", "rule"],
            registry=registry,
        )
        self.gate_seconds = Histogram(
            "callgate_gate_seconds",
            "Seconds from a tools/call's arrival to the gate's decision (a wait for "
            "approval included).",
            ["server", "decision"],
            buckets=GATE_BUCKETS,
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "callgate_upstream_seconds",
            "Seconds from forwarding a tools/call to the server's answer, by outcome.",
            ["server", "outcome"],
            buckets=UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.approvals_pending = Gauge(
            "callgate_approvals_pending",
            "tools/call requests held while a person decides.",
            ["server"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.store_errors = Counter(
            "callgate_store_errors",
            "Counter store operations that failed (the store was unreachable).",
            ["operation"],
            registry=registry,
        )
        self.reloads = Counter(
            "callgate_policy_reloads",
            "Edits of the policy file: applied, or rejected as invalid.",
            ["result"],
            registry=registry,
        )
        self._children: dict[Hashable, Any] = {}

    def judged(self, server: str, tool: str, decision: Decision, seconds: float) -> None:
        """Count one decision and the time it took."""
        verdict = decision_label(decision)
        rule = rule_label(decision)
        key = ("d", server, tool, verdict, rule)
        children = self._children
        pair = children.get(key)
        if pair is None:
            label = self.tools.label(server, tool)
            pair = (
                self.decisions.labels(server, label, verdict, rule),
                self.gate_seconds.labels(server, verdict),
            )
            if len(children) < MAX_CHILDREN and label != OTHER_TOOL:
                children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def answered(self, server: str, outcome: str, seconds: float) -> None:
        """Time one answer from the server."""
        key = ("u", server, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.upstream_seconds.labels(server, outcome)
        child.observe(seconds)
