"""Recorded `tools/call` decisions, read from audit records (pure: dicts in, calls out).

A record says who called what (server, session, agent, tool, the risk category and
flags the call was judged with), the arguments in the form the policy kept them, the
decision and rule it got, when, and, for a call that went upstream, how it ended.

**The old decision** a new one is compared with is what the call got, told apart as
replay needs it:

    allow, no rule          allow
    allow with a rule       approval_required by that rule: a person (or a standing
                            grant) approved it
    deny by a rule an       approval_required: a person refused, or nobody answered
      approval was asked    (an approval event of the same server, session, tool and
      for                   rule is in the log)
    deny, hidden, rate_limited, approval_required   the same
    would_deny, would_rate_limit, would_require_approval (shadow mode)
                            what the call actually got (`enforced`, else `allow`: it
                            went through); the shadow verdict is kept beside it
    anything else           not comparable: reported, never guessed

A refusal by the proxy rather than the policy (the counter store down: rule `fail_mode`;
counters that kept changing: no rule) says nothing about any policy and is left out.

**When** a call was decided: a forwarded call's record is written when its answer came,
so its decision time is `time` minus `latency_ms`; every other record is written as
the call is decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from callgate.audit.redaction import ArgumentsMode
from callgate.policy.decision import Verdict
from callgate.replay.arguments import NOT_RECORDED, with_holes

DECISIONS: Final = frozenset(verdict.value for verdict in Verdict)
"""The verdicts a record can carry."""

SHADOW_DECISIONS: Final = {
    "would_deny": "deny",
    "would_rate_limit": "rate_limited",
    "would_require_approval": "approval_required",
}
"""Shadow mode's verdicts (the call went through) and the verdict each stands for."""

PROXY_RULES: Final = frozenset({"fail_mode"})
"""Rules of refusals the proxy makes by itself, not the policy."""

OK: Final = "ok"


@dataclass(frozen=True, slots=True)
class OldDecision:
    """What the call got when it was made, as replay compares it (module docstring).

    `verdict` is a `Verdict` value, or the record's own word when it is none replay
    knows (`known` is then False); `shadow` is a shadow-mode verdict recorded instead.
    """

    verdict: str
    rule: str | None
    known: bool = True
    shadow: str | None = None
    shadow_rule: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One recorded `tools/call`, ready to be judged again."""

    index: int
    """Its place among the records read (ties in time keep this order)."""
    time: str
    """The record's `time`, as written."""
    decided_at: float
    """Seconds since the epoch at which the call was decided (module docstring)."""
    answered_at: float
    """When its answer came (the record's time): a reservation is settled then."""
    server: str
    session: str
    agent: str
    tool: str
    category: str | None
    flags: tuple[str, ...] | None
    """The flags the call was judged with; None when not recorded (no `flags:` block)."""
    arguments: Mapping[str, Any]
    """As the engine reads them: holes where the record does not hold the value."""
    recorded_arguments: Any
    """As written in the record (for reports): the redacted or full arguments, or None."""
    kept: ArgumentsMode
    """What the record kept of the arguments (the policy's `audit.arguments` then)."""
    old: OldDecision
    reason: str
    outcome: str | None
    """How the forwarded call ended (`ok`, `tool_error`, ...); None: not forwarded."""

    @property
    def ran(self) -> bool:
        """Whether the call went upstream (it has an outcome)."""
        return self.outcome is not None and self.outcome != "cancelled"


@dataclass
class Reading:
    """The calls read from a stream of records, and what was passed over."""

    calls: list[RecordedCall]
    skipped: dict[str, int]
    """Why records that are `tools/call` decisions were not replayed -> how many."""


def read_calls(records: Iterable[Mapping[str, Any]]) -> Reading:
    """The `tools/call` decisions among `records`, in decision-time order.

    Approval events are read too (to tell a person's refusal from a rule's denial);
    other records (refused bearer tokens) are passed over.
    """
    decisions: list[tuple[int, Mapping[str, Any]]] = []
    asked: set[tuple[Any, ...]] = set()
    for index, record in enumerate(records):
        if str(record.get("event", "")).startswith("approval."):
            asked.add(_approval_key(record))
        elif record.get("method") == "tools/call":
            decisions.append((index, record))
    calls: list[RecordedCall] = []
    skipped: dict[str, int] = {}
    for index, record in decisions:
        call = _call(index, record, asked)
        if isinstance(call, str):
            skipped[call] = skipped.get(call, 0) + 1
        else:
            calls.append(call)
    calls.sort(key=lambda call: (call.decided_at, call.index))
    return Reading(calls, skipped)


def _approval_key(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return (record.get("server"), record.get("session"), record.get("tool"), record.get("rule"))


def _call(index: int, record: Mapping[str, Any], asked: set[tuple[Any, ...]]) -> RecordedCall | str:
    """The call, or why it cannot be replayed."""
    tool, time = record.get("tool"), record.get("time")
    if not isinstance(tool, str) or not isinstance(time, str):
        return "a record without its tool or time"
    try:
        answered = datetime.fromisoformat(time).timestamp()
    except ValueError:
        return "a record whose time cannot be read"
    decision, rule = record.get("decision"), record.get("rule")
    rule = rule if isinstance(rule, str) else None
    if decision == "deny" and (rule is None or rule in PROXY_RULES):
        return "refused by the proxy, not a policy (state store down, counters kept changing)"
    outcome = record.get("outcome") if isinstance(record.get("outcome"), str) else None
    latency = record.get("latency_ms")
    decided = answered
    if outcome is not None and isinstance(latency, int | float) and not isinstance(latency, bool):
        decided = answered - max(float(latency), 0.0) / 1000.0
    arguments, kept = _arguments(record)
    flags = record.get("flags")
    return RecordedCall(
        index=index,
        time=time,
        decided_at=decided,
        answered_at=answered,
        server=str(record.get("server") or ""),
        session=str(record.get("session") or ""),
        agent=str(record.get("agent") or ""),
        tool=tool,
        category=record.get("category") if isinstance(record.get("category"), str) else None,
        flags=tuple(str(flag) for flag in flags) if isinstance(flags, list) else None,
        arguments=arguments,
        recorded_arguments=record.get("arguments"),
        kept=kept,
        old=old_decision(record, asked),
        reason=str(record.get("reason") or ""),
        outcome=outcome,
    )


def _arguments(record: Mapping[str, Any]) -> tuple[Mapping[str, Any], ArgumentsMode]:
    arguments = record.get("arguments")
    if not isinstance(arguments, dict):  # hashed, or "[not recorded: ...]"
        return NOT_RECORDED, ArgumentsMode.HASH
    redacted = record.get("redacted")
    if not isinstance(redacted, list):
        return arguments, ArgumentsMode.FULL
    pointers = [pointer for pointer in redacted if isinstance(pointer, str)]
    try:
        return with_holes(arguments, pointers), ArgumentsMode.REDACTED
    except ValueError:  # a pointer that is no pointer: trust no value
        return NOT_RECORDED, ArgumentsMode.HASH


def old_decision(record: Mapping[str, Any], asked: set[tuple[Any, ...]]) -> OldDecision:
    """What the call got, as replay compares it (see the module docstring)."""
    decision = record.get("decision")
    rule = record.get("rule") if isinstance(record.get("rule"), str) else None
    if decision in SHADOW_DECISIONS:
        enforced = record.get("enforced")
        verdict = enforced if isinstance(enforced, str) and enforced in DECISIONS else "allow"
        return OldDecision(verdict, None, shadow=SHADOW_DECISIONS[str(decision)], shadow_rule=rule)
    if not isinstance(decision, str) or decision not in DECISIONS:
        return OldDecision(str(decision), rule, known=False)
    if decision == "allow" and rule is not None:
        return OldDecision("approval_required", rule)
    if decision == "deny" and _approval_key(record) in asked:
        return OldDecision("approval_required", rule)
    return OldDecision(decision, rule)
