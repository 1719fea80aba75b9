"""Why a call gets its decision, step by step: which entries matched, which rules ran.

`explain` retraces the engine's order (hide, default, entries by precedence, rules in
order, conditions with the values they saw) and ends with the engine's own decision, so
the story and the verdict can never disagree. A condition that could not judge the call
(missing value, wrong type, no or empty list) says so, and what that meant for the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from callgate.policy.compiler import (
    PROJECTED,
    CompiledCondition,
    CompiledPolicy,
    CompiledRule,
)
from callgate.policy.conditions import compile_condition
from callgate.policy.decision import Decision, Facts, ToolCall
from callgate.policy.engine import (
    build_subject,
    charge_amount,
    describe_condition,
    evaluate,
    scope_key,
    with_charge,
)
from callgate.policy.paths import MISSING, WILDCARD, compile_walk, parse_path
from callgate.policy.patterns import EntryKind
from callgate.policy.schema import Action
from callgate.results.guard import ResultRules


class Outcome(StrEnum):
    """How a step went."""

    PASS = "pass"
    FAIL = "fail"
    INFO = "info"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the explanation; `depth` nests conditions under their rule."""

    text: str
    outcome: Outcome = Outcome.INFO
    depth: int = 0


@dataclass(frozen=True, slots=True)
class Explanation:
    """The steps, and the engine's decision they lead to."""

    call: ToolCall
    steps: tuple[Step, ...]
    decision: Decision


def explain(policy: CompiledPolicy, call: ToolCall, facts: Facts) -> Explanation:
    """Narrate how `policy` judges `call` (the decision is `evaluate`'s)."""
    steps: list[Step] = []
    decision = evaluate(policy, call, facts)
    tool = call.tool
    if policy.is_hidden(tool):
        steps.append(Step(f"hide: {tool!r} is hidden ({_hidden_by(policy, tool)})", Outcome.FAIL))
        return Explanation(call, tuple(steps), decision)
    steps.append(Step(f"hide: {tool!r} is not hidden", Outcome.PASS))
    plan = policy.plan(tool, facts.category, facts.flags)
    steps.extend(_entry_steps(policy, tool, facts, plan.entries))
    if policy.default_deny:
        if not plan.listed:
            unlisted = "default: deny, and no tool entry (exact name or pattern) lists this tool"
            if not policy.shadow_mode:
                steps.append(Step(unlisted, Outcome.FAIL))
                return Explanation(call, tuple(steps), decision)
            steps.append(Step(f"{unlisted}: would deny{_GOES_ON}", Outcome.FAIL))
        else:
            steps.append(Step("default: deny, but a tool entry lists this tool", Outcome.PASS))
    else:
        steps.append(Step("default: allow", Outcome.INFO))
    subject = build_subject(plan, call, facts)
    stopped = False
    for applicable in plan.entries:
        label = _entry_label(applicable.kind, applicable.key)
        if not applicable.entry.rules:
            steps.append(Step(f"{label}: no rules", Outcome.PASS))
            continue
        for rule in applicable.entry.rules:
            if stopped:
                steps.append(Step(f"rule {rule.name!r} ({label}): not evaluated", Outcome.SKIP))
                continue
            stopped = _rule_steps(rule, label, call=call, facts=facts, subject=subject, steps=steps)
    if policy.guards_results:
        steps.append(_results_step(plan.results))
    shadow = decision.shadow
    if shadow is not None:
        verdict = shadow.verdict.value.upper().replace("_", " ")
        text = f"shadow: {verdict} by rule {shadow.rule!r}: {shadow.reason}"
        steps.append(Step(f"{text}; recorded, the call is not stopped by it", Outcome.INFO))
    return Explanation(call, tuple(steps), decision)


_GOES_ON = " (shadow mode: recorded, the call goes on)"


def _results_step(rules: ResultRules | None) -> Step:
    """What the result guard will do with the call's result (`results:`)."""
    if rules is None:
        return Step("results: not read (no results: block asks for this tool)", Outcome.INFO)
    done = []
    if rules.redact_secrets:
        done.append("secrets replaced with [REDACTED:<kind>]")
    if rules.flag_injection:
        action = rules.on_injection.value
        done.append(f"instructions aimed at the model looked for (on_injection: {action})")
    return Step(f"results: {'; '.join(done)}", Outcome.INFO)


def _rule_steps(
    rule: CompiledRule,
    label: str,
    *,
    call: ToolCall,
    facts: Facts,
    subject: dict[str, Any],
    steps: list[Step],
) -> bool:
    """Append the steps of one rule; True when it decided the call (later rules do not run).

    A rule in shadow mode never decides: its steps say what it would have done.
    """
    shadow = rule.shadow
    head = f"rule {rule.name!r} ({label}, {rule.action.value}{', shadow' if shadow else ''})"
    if rule.action is Action.DENY:
        denies = f"would deny every call{_GOES_ON}" if shadow else "denies every call"
        steps.append(Step(f"{head}: {denies}", Outcome.FAIL))
        return not shadow
    if rule.rate_limit is not None:
        limit = rule.rate_limit
        refuses = (
            "a full window is recorded as would_rate_limit and refuses nothing"
            if shadow
            else "the store refuses the call when the window is full"
        )
        steps.append(
            Step(
                f"{head}: rate limit {limit.limit} per {limit.window.seconds} s "
                f"(scope {limit.scope.value}: {scope_key(limit.scope, facts)!r}); {refuses}",
                Outcome.PASS,
            )
        )
        return False
    counter = rule.counter
    counter_steps: list[Step] = []
    if counter is not None:
        amount = charge_amount(counter, call.arguments)
        if isinstance(amount, str):
            steps.append(Step(f"{head}: {amount}{_GOES_ON if shadow else ''}", Outcome.FAIL))
            return not shadow
        subject[PROJECTED] = with_charge(subject, counter, amount)
        current = facts.counters.get(counter.path, 0)
        counter_steps.append(
            Step(
                f"counter state.{counter.path} = {current}, this call adds {amount} "
                f"({counter.window.seconds} s calendar window, scope {counter.scope.value})",
                Outcome.INFO,
                1,
            )
        )
    holds = rule.predicate is None or rule.predicate(subject)
    unjudged: list[str] = []
    condition_steps = counter_steps + [
        step
        for condition in rule.conditions
        for step in _condition_steps(condition, subject, 1, unjudged)
    ]
    # Why it cannot be judged, when that is what made the rule stop the call.
    because = "; ".join(dict.fromkeys(unjudged))
    note = _GOES_ON if shadow else ""
    if rule.action is Action.REQUIRE_APPROVAL:
        asked = "approval would be required" if shadow else "approval required"
        if holds and unjudged:
            steps.append(
                Step(
                    f"{head}: {because}: {asked} because the condition cannot be judged{note}",
                    Outcome.FAIL,
                )
            )
        elif holds:
            when = "its conditions hold" if rule.conditions else "it has no conditions"
            needed = "approval would be needed" if shadow else "approval needed"
            steps.append(Step(f"{head}: {needed} ({when}){note}", Outcome.FAIL))
        else:
            steps.append(Step(f"{head}: no approval needed", Outcome.PASS))
        steps.extend(condition_steps)
        return False
    denied = "would be denied" if shadow else "is denied"
    if holds:
        steps.append(Step(f"{head}: every condition holds", Outcome.PASS))
    elif unjudged:
        steps.append(
            Step(
                f"{head}: {because}: the call {denied} because the condition cannot be "
                f"judged{note}",
                Outcome.FAIL,
            )
        )
    else:
        steps.append(Step(f"{head}: a condition fails, so the call {denied}{note}", Outcome.FAIL))
    steps.extend(condition_steps)
    return not holds and not shadow


def _condition_steps(
    condition: CompiledCondition, subject: Mapping[str, Any], depth: int, unjudged: list[str]
) -> list[Step]:
    """The condition's steps; why a leaf could not judge the call is added to `unjudged`."""
    holds = condition.predicate(subject)
    outcome = Outcome.PASS if holds else Outcome.FAIL
    spec = condition.spec
    if spec.path is None:
        word = "any" if spec.any_ is not None else "all" if spec.all_ is not None else "not"
        steps = [Step(f"{word}: {'true' if holds else 'false'}", outcome, depth)]
        for child in condition.children:
            steps.extend(_condition_steps(child, subject, depth + 1, unjudged))
        return steps
    seen_in = subject[PROJECTED] if condition.projected else subject
    where, value = _value_at(spec.path, seen_in)
    shown = "missing" if value is MISSING else _show(value)
    note = ""
    # A leaf could not judge the call exactly when its answer depends on `unknown`.
    other = compile_condition(spec.path, spec.op or "", spec.value, unknown=not condition.unknown)
    if other(seen_in) != holds:
        unjudged.append(_unjudged_reason(spec.path, spec.op or "", where, value))
        note = f"; cannot be judged, counted as {'true' if holds else 'false'}"
    return [
        Step(
            f"{describe_condition(condition)}: {'true' if holds else 'false'} "
            f"({where} = {shown}{note})",
            outcome,
            depth,
        )
    ]


def _unjudged_reason(path: str, op: str, where: str, value: Any) -> str:
    """Why `path op ...` could not judge `value` (found at `where`), in words."""
    if value is MISSING:
        return f"{where} is missing"
    if "[*]" in path:
        if not isinstance(value, list | tuple):
            return f"{where} is {_kind(value)}, not a list"
        if not value:
            return f"{where} is an empty list"
        return f"an element of {where} has no value at {path[len(where) :]} that {op} can judge"
    if value is None:
        return f"{where} is null"
    return f"{where} is {_kind(value)}, which {op} cannot judge"


def _kind(value: Any) -> str:
    """A JSON value's type, with its article."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return "an object"


def _value_at(path: str, subject: Mapping[str, Any]) -> tuple[str, Any]:
    """The value a condition looked at; for `a[*].b`, the list `a` it went through."""
    root, segments = parse_path(path)
    if WILDCARD in segments:
        segments = segments[: segments.index(WILDCARD)]
        path = path[: path.index("[*]")]
    return path, compile_walk((root, *segments))(subject)


def _show(value: Any) -> str:
    return str(value) if isinstance(value, Decimal) else repr(value)


def _entry_steps(
    policy: CompiledPolicy, tool: str, facts: Facts, entries: tuple[Any, ...]
) -> list[Step]:
    steps: list[Step] = []
    kinds = [applicable.kind for applicable in entries]
    if EntryKind.TOOL in kinds:
        shadowed = [p.text for p, _ in policy.patterns if p.matches(tool)]
        note = f"; it shadows patterns {', '.join(shadowed)}" if shadowed else ""
        steps.append(Step(f"entry tools.{tool}: exact name{note}", Outcome.INFO))
    elif EntryKind.PATTERN in kinds:
        matching = [p.text for p, _ in policy.patterns if p.matches(tool)]
        others = f" (also matched: {', '.join(matching[1:])})" if len(matching) > 1 else ""
        steps.append(
            Step(f'entry tools."{matching[0]}": longest matching pattern{others}', Outcome.INFO)
        )
    else:
        steps.append(Step("no tool entry: neither the exact name nor a pattern", Outcome.INFO))
    category = next((a.key for a in entries if a.kind is EntryKind.CATEGORY), None)
    if category is not None:
        steps.append(Step(f"entry categories.{category}: the tool's category", Outcome.INFO))
    elif facts.category is not None:
        steps.append(Step(f"category {facts.category!r}: no categories entry for it", Outcome.INFO))
    steps.extend(_flag_steps(facts, entries))
    if EntryKind.WILDCARD in kinds:
        steps.append(Step('entry "*": applies to every call, last', Outcome.INFO))
    return steps


def _flag_steps(facts: Facts, entries: tuple[Any, ...]) -> list[Step]:
    """Which of the tool's flags selected an entry, and where the flags came from."""
    pinned = entries[0].entry.flags if entries and entries[0].kind in _OWN else None
    flags = facts.flags if pinned is None else pinned
    origin = "the tool entry's flags" if pinned is not None else "a flag of the tool"
    matched = [a.key for a in entries if a.kind is EntryKind.FLAG]
    steps: list[Step] = []
    if pinned is not None and set(pinned) != set(facts.flags):
        given = ", ".join(facts.flags) or "none"
        steps.append(
            Step(f"flags: the tool entry sets [{', '.join(pinned)}] (given: {given})", Outcome.INFO)
        )
    steps += [Step(f"entry flags.{flag}: {origin}", Outcome.INFO) for flag in matched]
    unmatched = [flag for flag in flags if flag not in matched]
    if unmatched:
        steps.append(Step(f"flags {', '.join(unmatched)}: no flags entry for them", Outcome.INFO))
    return steps


_OWN = (EntryKind.TOOL, EntryKind.PATTERN)


def _entry_label(kind: EntryKind, key: str) -> str:
    if kind is EntryKind.CATEGORY:
        return f"categories.{key}"
    if kind is EntryKind.FLAG:
        return f"flags.{key}"
    if kind is EntryKind.WILDCARD:
        return '"*"'
    return f'tools."{key}"' if kind is EntryKind.PATTERN else f"tools.{key}"


def _hidden_by(policy: CompiledPolicy, tool: str) -> str:
    if policy.hide_all:
        return 'hide: ["*"]'
    if tool in policy.hidden_names:
        return "listed in hide"
    pattern = next(p.text for p in policy.hidden_patterns if p.matches(tool))
    return f"hide pattern {pattern!r}"
