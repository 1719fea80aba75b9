"""Judging recorded calls again under a new policy, in time order, counters simulated.

Each call is judged the way the gate judges a live one (`callgate.proxy.gate`), with the
compiled policy's own `evaluate` and `counter_keys`, and a `CounterStore` (in memory,
empty at the start) standing for the proxy's:

    facts        from the record: decision time, agent (roles from the new policy's
                 `agents:`), session, server, category, flags
    counters     the values the store holds at that time, read for the keys the
                 call's rules read
    evaluate     the engine decides; a read of a value the record does not hold
                 (`ValueNotRecorded`) makes the call one replay cannot tell
    reserve      a call the new policy lets through (allow, or approval required)
                 reserves its charges, all or none; a full rate limit: rate_limited
    settle       the reservation is committed or rolled back when the recorded call's
                 answer came (its record's time), as the proxy settles it

How a reservation is settled:

| new decision | recorded call | charges |
|---|---|---|
| allow | ran, outcome `ok` | committed |
| allow | ran and failed (`tool_error`, `error`, `timeout`, ...) or was cancelled | rolled back |
| allow | was refused then (no outcome) | committed: replay assumes it would succeed |
| approval required | ran, outcome `ok` (approved, or let through) | committed |
| approval required | anything else | rolled back: replay does not guess a person's answer |

A call replay cannot tell, or one the new policy refuses, charges nothing. Argument
validation against the tool's input schema is not repeated (the log has no schemas): a
call the proxy refused for its arguments (`validate_arguments`) stays refused when the
new policy validates them too; every other call is taken to pass.

Pure but for the store, which is a port: the memory store never waits, so this runs as
fast as a loop; any `CounterStore` gives the same answers.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from callgate.policy.compiler import CompiledPolicy
from callgate.policy.decision import Agent, Decision, Facts, ToolCall, Verdict
from callgate.replay.arguments import HASHED, ValueNotRecorded
from callgate.replay.recorded import OK, RecordedCall
from callgate.state.store import CounterStore, Rejection, Reservation

_PROCEEDS = frozenset({Verdict.ALLOW, Verdict.APPROVAL_REQUIRED})
_STALE_RETRIES = 5
VALIDATION_RULE = "validate_arguments"
"""The rule the proxy names when it refuses arguments for an allowed call."""


@dataclass(frozen=True, slots=True)
class NewDecision:
    """What the new policy decides for a recorded call."""

    verdict: str
    rule: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Judged:
    """A recorded call and its new decision, or why replay cannot tell (`unknown`)."""

    call: RecordedCall
    new: NewDecision | None
    unknown: str | None = None


async def judge_calls(
    policy: CompiledPolicy, calls: Sequence[RecordedCall], store: CounterStore
) -> list[Judged]:
    """Judge `calls` (in decision-time order) under `policy`, counters kept in `store`."""
    roles = roles_of(policy)
    # Reservations waiting for their call's answer: (answered at, order, reservation, commit).
    pending: list[tuple[float, int, Reservation, bool]] = []
    judged: list[Judged] = []
    for call in calls:
        await _settle(store, pending, call.decided_at)
        agent = Agent(call.agent, roles.get(call.agent, frozenset()))
        result, held = await _judge(policy, call, agent, store)
        if held is not None:
            heapq.heappush(pending, (max(call.answered_at, call.decided_at), call.index, *held))
        judged.append(result)
    await _settle(store, pending, math.inf)
    return judged


async def _settle(
    store: CounterStore, pending: list[tuple[float, int, Reservation, bool]], until: float
) -> None:
    """Commit or roll back every reservation whose call was answered by `until`."""
    while pending and pending[0][0] <= until:
        at, _, reservation, commit = heapq.heappop(pending)
        if commit:
            await store.commit(reservation, at)
        else:
            await store.rollback(reservation, at)


async def _judge(
    policy: CompiledPolicy, call: RecordedCall, agent: Agent, store: CounterStore
) -> tuple[Judged, tuple[Reservation, bool] | None]:
    """The new decision for one call, and the reservation it holds (with how to settle)."""
    why = risk_unknown(policy, call)
    if why is not None:
        return Judged(call, None, why), None
    now = call.decided_at
    tool_call = ToolCall(call.server, call.tool, call.arguments)
    facts = Facts(
        now=now,
        agent=agent,
        session=call.session,
        category=call.category,
        flags=(call.flags or ()) if policy.uses_flags else (),
    )
    for _ in range(_STALE_RETRIES):
        keys = policy.counter_keys(tool_call, facts)
        if keys:
            values = await store.read(list(dict.fromkeys(keys.values())), now)
            facts = replace(facts, counters={path: values[key] for path, key in keys.items()})
        try:
            decision = policy.evaluate(tool_call, facts)
        except ValueNotRecorded as missing:
            return Judged(call, None, unknown_text(missing)), None
        if decision.verdict not in _PROCEEDS:
            return _judged(call, decision), None
        refused = _refused_arguments(call, decision)
        if refused is not None:
            return Judged(call, refused), None
        held: Reservation | None = None
        if decision.charges:
            outcome = await store.reserve(decision.charges, decision.guards, now)
            if isinstance(outcome, Rejection):
                if outcome.charge is None:
                    continue  # a guarded counter moved: judge again, as the gate does
                charge = outcome.charge
                reason = policy.rate_limit_reason(charge)
                return Judged(call, NewDecision("rate_limited", charge.rule, reason)), None
            held = outcome
        commits = call.outcome == OK or (call.outcome is None and decision.allowed)
        return _judged(call, decision), (None if held is None else (held, commits))
    return Judged(call, None, "cannot tell: counters kept changing while judging"), None


def _judged(call: RecordedCall, decision: Decision) -> Judged:
    return Judged(call, NewDecision(decision.verdict.value, decision.rule, decision.reason))


def _refused_arguments(call: RecordedCall, decision: Decision) -> NewDecision | None:
    """The recorded refusal of the call's arguments, when the new policy checks them too."""
    rule = decision.rule or VALIDATION_RULE
    old = call.old
    if decision.validate_arguments and old.verdict == "deny" and old.rule == rule:
        return NewDecision("deny", rule, call.reason)
    return None


def risk_unknown(policy: CompiledPolicy, call: RecordedCall) -> str | None:
    """Why the call's applicable entries cannot be known (its category or flags were not
    recorded and the new policy has entries for them), or None."""
    flags = call.flags or ()
    if call.category is None and policy.categories:
        base = _entry_keys(policy, call.tool, None, flags)
        if any(_entry_keys(policy, call.tool, c, flags) != base for c in policy.categories):
            return "cannot tell: the tool's risk category was not recorded"
    if call.flags is None and policy.uses_flags:
        none = _entry_keys(policy, call.tool, call.category, ())
        every = _entry_keys(policy, call.tool, call.category, tuple(policy.flags))
        if none != every:
            return (
                "cannot tell: the tool's risk flags were not recorded "
                "(the policy in force then had no flags: block)"
            )
    return None


def _entry_keys(
    policy: CompiledPolicy, tool: str, category: str | None, flags: tuple[str, ...]
) -> list[tuple[str, str]]:
    return [(a.kind.value, a.key) for a in policy.plan(tool, category, flags).entries]


def unknown_text(missing: ValueNotRecorded) -> str:
    """Why a call whose judgement read an unrecorded value cannot be told."""
    if missing.why == HASHED:
        return "cannot tell: arguments not recorded (audit.arguments: hash)"
    return f"cannot tell: condition on redacted value at {missing.pointer or '/'}"


def longest_window(policy: CompiledPolicy) -> int:
    """The longest window of the policy's rate limits and counters, in seconds (0: none):
    how long before the first call reported the calls that count towards it began."""
    windows = [limit.window.seconds for limit in policy.rate_limits.values()]
    windows += [counter.window.seconds for counter in policy.counters.values()]
    return max(windows, default=0)


def roles_of(policy: CompiledPolicy) -> Mapping[str, frozenset[str]]:
    """Agent name -> roles, from the policy's `agents:` (other agents have none)."""
    return {agent.name: frozenset(agent.roles) for agent in policy.agents}
