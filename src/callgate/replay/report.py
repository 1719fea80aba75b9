"""What a replay found, grouped: which calls would now be treated differently (pure).

Every judged call is one of:

    unchanged       the same verdict by the same rule
    changed         another verdict: now allowed, denied, hidden, rate limited, or
                    requires approval
    other_rule      the same verdict by another rule (the agent reads another reason)
    unknown         cannot tell: the judgement read a value the record does not hold
                    (redacted, hashed), or the tool's risk was not recorded
    not_comparable  the record's decision is not one replay knows

Calls are grouped by their change, the old verdict and rule and the new verdict and
rule (or why replay cannot tell), biggest group first, each with a count and its first
few calls as examples. `changed` and `unknown` are what a CI gate fails on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from callgate.audit.redaction import ArgumentsMode
from callgate.replay.recorded import OldDecision, RecordedCall
from callgate.replay.simulation import Judged, NewDecision


class Change(StrEnum):
    """How a call's new decision compares with what it got."""

    UNCHANGED = "unchanged"
    CHANGED = "changed"
    OTHER_RULE = "other_rule"
    UNKNOWN = "unknown"
    NOT_COMPARABLE = "not_comparable"


_NOW = {
    "allow": "now allowed",
    "deny": "now denied",
    "hidden": "now hidden",
    "rate_limited": "now rate limited",
    "approval_required": "now requires approval",
}
_ORDER = (Change.CHANGED, Change.OTHER_RULE, Change.UNKNOWN, Change.NOT_COMPARABLE)


def change_of(judged: Judged) -> Change:
    """How `judged`'s new decision compares with the recorded one."""
    old, new = judged.call.old, judged.new
    if not old.known:
        return Change.NOT_COMPARABLE
    if new is None:
        return Change.UNKNOWN
    if new.verdict != old.verdict:
        return Change.CHANGED
    return Change.UNCHANGED if new.rule == old.rule else Change.OTHER_RULE


@dataclass(frozen=True, slots=True)
class Example:
    """One call of a group, as recorded, with the reasons it got and would get."""

    time: str
    server: str
    agent: str
    session: str
    tool: str
    arguments: Any
    """As recorded: full, redacted, or None (hashed)."""
    old_reason: str
    new_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """The example as JSON-ready data."""
        return {
            "time": self.time,
            "server": self.server,
            "agent": self.agent,
            "session": self.session,
            "tool": self.tool,
            "arguments": self.arguments,
            "old_reason": self.old_reason,
            "new_reason": self.new_reason,
        }


@dataclass(slots=True)
class Group:
    """Calls that changed the same way."""

    change: Change
    old: OldDecision
    new: NewDecision | None
    why: str | None
    """For `unknown`: why replay cannot tell."""
    count: int = 0
    examples: list[Example] = field(default_factory=list)

    @property
    def title(self) -> str:
        """A heading for people: `now denied`, `cannot tell: ...`."""
        if self.change is Change.UNKNOWN:
            return self.why or "cannot tell"
        if self.change is Change.NOT_COMPARABLE:
            return f"cannot compare: recorded decision {self.old.verdict!r} is not one replay knows"
        if self.change is Change.OTHER_RULE:
            return "same decision, another rule"
        if self.new is None:  # unchanged
            return "unchanged"
        return _NOW.get(self.new.verdict, f"now {self.new.verdict}")

    def to_dict(self) -> dict[str, Any]:
        """The group as JSON-ready data."""
        old: dict[str, Any] = {"decision": self.old.verdict, "rule": self.old.rule}
        if self.old.shadow is not None:
            old["shadow"] = {"decision": self.old.shadow, "rule": self.old.shadow_rule}
        return {
            "change": self.change.value,
            "title": self.title,
            "old": old,
            "new": None
            if self.new is None
            else {"decision": self.new.verdict, "rule": self.new.rule},
            "why": self.why,
            "count": self.count,
            "examples": [example.to_dict() for example in self.examples],
        }


@dataclass(slots=True)
class Report:
    """A replay's findings."""

    calls: int
    counts: dict[Change, int]
    arguments: dict[ArgumentsMode, int]
    """How many calls' records kept their arguments full, redacted, or only hashed."""
    skipped: Mapping[str, int]
    groups: list[Group]
    first: str | None
    last: str | None
    """The times of the first and last call replayed."""

    @property
    def changed(self) -> int:
        """Calls that would get another verdict."""
        return self.counts[Change.CHANGED]

    @property
    def unknown(self) -> int:
        """Calls replay cannot tell (and records it cannot compare)."""
        return self.counts[Change.UNKNOWN] + self.counts[Change.NOT_COMPARABLE]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the shape `callgate replay --format json` prints)."""
        return {
            "calls": self.calls,
            "first": self.first,
            "last": self.last,
            **{change.value: self.counts[change] for change in Change},
            "arguments": {kept.value: self.arguments[kept] for kept in ArgumentsMode},
            "skipped": dict(self.skipped),
            "groups": [group.to_dict() for group in self.groups],
        }


def build_report(
    judged: Iterable[Judged], skipped: Mapping[str, int] | None = None, *, examples: int = 3
) -> Report:
    """Group the judged calls (module docstring); keep `examples` calls per group."""
    counts = dict.fromkeys(Change, 0)
    kept = dict.fromkeys(ArgumentsMode, 0)
    groups: dict[tuple[Any, ...], Group] = {}
    calls = 0
    times: list[str] = []
    for one in judged:
        call = one.call
        calls += 1
        times.append(call.time)
        kept[call.kept] += 1
        change = change_of(one)
        counts[change] += 1
        if change is Change.UNCHANGED:
            continue
        key = (change, call.old, one.new.verdict if one.new else None, _rule(one.new), one.unknown)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(change, call.old, one.new, one.unknown)
        group.count += 1
        if len(group.examples) < examples:
            group.examples.append(_example(call, one.new))
    ordered = sorted(groups.values(), key=lambda g: (_ORDER.index(g.change), -g.count, g.title))
    return Report(
        calls=calls,
        counts=counts,
        arguments=kept,
        skipped=dict(skipped or {}),
        groups=ordered,
        first=min(times) if times else None,
        last=max(times) if times else None,
    )


def _rule(new: NewDecision | None) -> str | None:
    return new.rule if new is not None else None


def _example(call: RecordedCall, new: NewDecision | None) -> Example:
    return Example(
        time=call.time,
        server=call.server,
        agent=call.agent,
        session=call.session,
        tool=call.tool,
        arguments=call.recorded_arguments if isinstance(call.recorded_arguments, dict) else None,
        old_reason=call.reason,
        new_reason=new.reason if new is not None else None,
    )
