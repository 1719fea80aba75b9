"""A summary of the audit log for `callgate status` (pure: records in, numbers out)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class AuditSummary:
    """Counts over the decision records of an audit log."""

    decisions: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    tools: Counter[str] = field(default_factory=Counter)
    denied_tools: Counter[str] = field(default_factory=Counter)
    agents: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    first: str | None = None
    last: str | None = None
    unreadable: int = 0
    other_events: int = 0
    other_decisions: Counter[str] = field(default_factory=Counter)
    """Decisions about something other than a tool call, as "method decision" (auth deny)."""
    allowed: int = 0
    """Calls that reached the server: allowed, also those a rule in shadow mode would have
    stopped (`would_deny`, ... with `enforced: allow`)."""
    shadow_rules: Counter[str] = field(default_factory=Counter)
    """Rules in shadow mode, by how many calls they would have stopped."""

    @property
    def calls(self) -> int:
        """Every judged call."""
        return sum(self.decisions.values())

    @property
    def refused(self) -> int:
        """Calls that did not reach the server."""
        return self.calls - self.allowed

    def latency_percentile(self, percent: float) -> float | None:
        """Upstream latency of allowed calls at `percent` (nearest rank), None when none."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        rank = max(1, round(percent / 100 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]


def summarize(lines: Iterable[str]) -> AuditSummary:
    """Fold audit lines into a summary; lines that are not JSON objects are counted."""
    summary = AuditSummary()
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            summary.unreadable += 1
            continue
        if not isinstance(record, dict):
            summary.unreadable += 1
            continue
        decision = record.get("decision")
        if not isinstance(decision, str):
            summary.other_events += 1  # approval events and the like
            continue
        method = record.get("method", "tools/call")
        if method != "tools/call":
            summary.other_decisions[f"{method} {decision}"] += 1
            continue
        _add(summary, record, decision)
    return summary


def _add(summary: AuditSummary, record: dict[str, object], decision: str) -> None:
    tool = str(record.get("tool"))
    summary.decisions[decision] += 1
    summary.tools[tool] += 1
    summary.agents[str(record.get("agent"))] += 1
    time = record.get("time")
    if isinstance(time, str):
        summary.first = time if summary.first is None else min(summary.first, time)
        summary.last = time if summary.last is None else max(summary.last, time)
    shadowed = record.get("enforced") == "allow"
    if shadowed:
        summary.shadow_rules[str(record.get("rule"))] += 1
    if decision == "allow" or shadowed:
        summary.allowed += 1
        outcome = record.get("outcome")
        summary.outcomes[str(outcome)] += 1
        latency = record.get("latency_ms")
        if isinstance(latency, int | float):
            summary.latencies_ms.append(float(latency))
        return
    summary.denied_tools[tool] += 1
    rule = record.get("rule")
    summary.rules[str(rule) if rule else "(default)"] += 1
