"""The decision engine: one tool call and its facts in, one `Decision` out. Pure.

Order of evaluation (Intercept's, extended):

1. a hidden tool → HIDDEN;
2. `default: deny` and no tool entry (exact name or pattern) → DENY; category, flag and
   `"*"` entries do not rescue an unlisted tool; an entry with `rules: []` lists it;
3. the rules of the applicable entries (tool entry, category entry, flag entries, `"*"`;
   see `callgate.policy.patterns`), each in file order:
   - `deny` → DENY;
   - `evaluate` → DENY unless every condition holds;
   - `rate_limit` → a limited charge (the store refuses it when the limit is reached);
   - `require_approval` → noted when its conditions hold (or it has none); the call must
     still pass every other rule;
   - a rule with `state` adds its counter charge (`increment` or `increment_from`, which
     must be a finite number >= 0, exact as a Decimal);
4. the first rule that fails decides; only when all pass are charges returned (the store
   reserves them all or none): APPROVAL_REQUIRED when an approval rule was noted, else ALLOW.

Shadow mode: a rule in shadow mode (`CompiledRule.shadow`; `default: deny` under a policy
in shadow mode) never decides. The call goes on as if the rule were absent, so a later
enforced rule still denies or asks, and what the rule would have done goes in
`Decision.shadow`: the first shadow denial (WOULD_DENY), else the first shadow approval
(WOULD_REQUIRE_APPROVAL) when no enforced rule asks. A shadow rule that would deny charges
nothing (as enforced, it would have stopped the call before its counter); a shadow rate
limit's slot goes in `Decision.shadow_charges`. An enforced denial carries no shadow.

Counter values come in `Facts.counters` (the proxy fills in the keys `counter_keys`
names, from values it last saw); a counter missing from it reads as 0. The decision
depends on a counter only through the leaf conditions that read it, so for every such
leaf of the rules evaluated the engine records the range in which the leaf's outcome
stays the same, and returns their conjunction per key in `Decision.guards`:

- `lt`/`lte`/`gt`/`gte` against `c`: `value op c` when the leaf held, its complement
  (`lt` <-> `gte`, `lte` <-> `gt`) when it failed; a projected leaf (`value + amount op c`)
  gives `value op c - amount`;
- any other operator: `value == v`, the value judged.

Keeping every leaf's outcome keeps every rule's outcome (whatever `any`/`all`/`not`
combine them) and so the decision; the store refuses a reservation whose guards no longer
hold, and the proxy judges again with the values the store returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from callgate.policy.compiler import (
    ORDER_TESTS,
    PROJECTED,
    CompiledCondition,
    CompiledCounter,
    CompiledPolicy,
    CompiledRule,
    Plan,
    StateLeaf,
    bound_guard,
)
from callgate.policy.decision import (
    Agent,
    Decision,
    Facts,
    Shadow,
    ShadowVerdict,
    ToolCall,
    Verdict,
)
from callgate.policy.paths import MISSING
from callgate.policy.schema import Action
from callgate.state.amounts import subtract
from callgate.state.counters import Charge, CounterKey, Guard, Scope, Window

HIDE_RULE = "hide"
DEFAULT_RULE = "default"
_ONE = Decimal(1)
_ZERO = Decimal(0)
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def evaluate(  # noqa: PLR0915 - the hot loop, kept whole: a call per rule costs more
    policy: CompiledPolicy, call: ToolCall, facts: Facts
) -> Decision:
    """Judge one call; see the module docstring for the order of evaluation."""
    tool = call.tool
    if policy.is_hidden(tool):
        return Decision(Verdict.HIDDEN, rule=HIDE_RULE, reason=f"tool {tool!r} is not available")
    plan = policy.plan(tool, facts.category, facts.flags)
    shadow: Shadow | None = None
    if policy.default_deny and not plan.listed:
        unlisted = _denial(plan, None, tool)
        if not policy.shadow_mode:
            return unlisted
        shadow = Shadow(ShadowVerdict.WOULD_DENY, DEFAULT_RULE, unlisted.reason)
    subject: dict[str, Any] | None = None
    charges: list[Charge] = []
    shadow_charges: list[Charge] | None = None
    guards: dict[CounterKey, Guard] = {}
    approval: CompiledRule | None = None
    for applicable in plan.entries:
        for rule in applicable.entry.rules:
            action = rule.action
            if action is Action.DENY:
                if rule.shadow:
                    shadow = _would_deny(shadow, rule.name, _deny_text(rule, tool))
                    continue
                return _guarded(rule.denial or _denial(plan, rule, tool), guards)
            limit = rule.rate_limit
            if limit is not None:
                charge = _rate_charge(policy, call, facts, rule, limit)
                if rule.shadow:
                    shadow_charges = [*(shadow_charges or ()), charge]
                else:
                    charges.append(charge)
                continue
            if subject is None:
                subject = build_subject(plan, call, facts)
            counter = rule.counter
            amount = _ZERO
            if counter is not None:
                found = charge_amount(counter, call.arguments)
                if isinstance(found, str):
                    if rule.shadow:
                        shadow = _would_deny(shadow, rule.name, found)
                        continue
                    return _guarded(Decision(Verdict.DENY, rule=rule.name, reason=found), guards)
                amount = found
                if rule.projects:
                    subject[PROJECTED] = with_charge(subject, counter, amount)
            if rule.watches:
                _narrow(
                    guards,
                    rule.watches,
                    policy=policy,
                    call=call,
                    facts=facts,
                    state=subject["state"],
                    amount=amount,
                )
            predicate = rule.predicate
            holds = predicate is None or predicate(subject)
            if action is Action.REQUIRE_APPROVAL:
                if holds and approval is None:
                    if not rule.shadow:
                        approval = rule
                    elif shadow is None:
                        shadow = Shadow(
                            ShadowVerdict.WOULD_REQUIRE_APPROVAL, rule.name, _ask_text(rule, tool)
                        )
            elif not holds:
                if rule.shadow:
                    # As if enforced: a call this rule would deny is not charged to its counter.
                    reason = _failure_text(rule, tool, subject)
                    shadow = _would_deny(shadow, rule.name, reason)
                    continue
                return _guarded(
                    rule.denial
                    or Decision(
                        Verdict.DENY, rule=rule.name, reason=_failure_text(rule, tool, subject)
                    ),
                    guards,
                )
            if counter is not None:
                charges.append(_counter_charge(policy, call, facts, counter, amount))
    if approval is None and shadow is None and shadow_charges is None:
        if not charges and not guards:
            return plan.allow
        return Decision(
            Verdict.ALLOW,
            charges=tuple(charges),
            guards=guards,
            validate_arguments=plan.validate_arguments,
        )
    return _noted(
        policy,
        plan,
        tool,
        approval=approval,
        charges=tuple(charges),
        guards=guards,
        shadow=shadow,
        shadow_charges=tuple(shadow_charges or ()),
    )


def _noted(
    policy: CompiledPolicy,
    plan: Plan,
    tool: str,
    *,
    approval: CompiledRule | None,
    charges: tuple[Charge, ...],
    guards: dict[CounterKey, Guard],
    shadow: Shadow | None,
    shadow_charges: tuple[Charge, ...],
) -> Decision:
    """The decision for a call no enforced rule denied, when an approval rule or a shadow
    rule spoke: APPROVAL_REQUIRED or ALLOW, with the shadow verdict and slots."""
    if approval is None:
        return Decision(
            Verdict.ALLOW,
            charges=charges,
            guards=guards,
            validate_arguments=plan.validate_arguments,
            shadow=shadow,
            shadow_charges=shadow_charges,
        )
    if shadow is not None and shadow.verdict is ShadowVerdict.WOULD_REQUIRE_APPROVAL:
        shadow = None  # an enforced rule asks: a shadow one asking too changes nothing
    return Decision(
        Verdict.APPROVAL_REQUIRED,
        rule=approval.name,
        reason=_ask_text(approval, tool),
        charges=charges,
        guards=guards,
        validate_arguments=plan.validate_arguments,
        approval_timeout=approval.approval_timeout or policy.approvals.timeout,
        shadow=shadow,
        shadow_charges=shadow_charges,
    )


def _denial(plan: Plan, rule: CompiledRule | None, tool: str) -> Decision:
    """The DENY of `tool` by a `deny` rule without its own text, or by `default: deny`
    (None): its reason names the tool, so it is built once per plan (plans are per tool)."""
    found = plan.denials.get(id(rule))
    if found is None:
        if rule is None:
            reason = f"tool {tool!r} is not permitted by policy (default: deny)"
            found = Decision(Verdict.DENY, rule=DEFAULT_RULE, reason=reason)
        else:
            found = Decision(Verdict.DENY, rule=rule.name, reason=_deny_text(rule, tool))
        plan.denials[id(rule)] = found
    return found


def _would_deny(shadow: Shadow | None, rule: str, reason: str) -> Shadow:
    """The shadow verdict once a shadow rule would deny: the first denial wins, and a
    denial wins over an approval it would have asked for (as when enforced)."""
    if shadow is not None and shadow.verdict is ShadowVerdict.WOULD_DENY:
        return shadow
    return Shadow(ShadowVerdict.WOULD_DENY, rule, reason)


def _ask_text(rule: CompiledRule, tool: str) -> str:
    return rule.message or f"calls to {tool!r} need approval (rule {rule.name!r})"


def counter_keys(policy: CompiledPolicy, call: ToolCall, facts: Facts) -> dict[str, CounterKey]:
    """The counters the call's applicable rules read: `"<tool>.<counter>"` → key to read.

    The proxy reads these from its store and passes the values in `Facts.counters`.
    Hidden or unlisted (default deny) tools read nothing.
    """
    if policy.is_hidden(call.tool):
        return {}
    plan = policy.plan(call.tool, facts.category, facts.flags)
    if policy.default_deny and not plan.listed and not policy.shadow_mode:
        return {}
    return {
        counter.path: _key(
            policy, call, facts, scope=counter.scope, name=counter.key_name, window=counter.window
        )
        for counter in plan.reads
    }


def scope_key(scope: Scope, facts: Facts) -> str:
    """Whose counter: the session id, the agent's name, or `"*"` for everyone."""
    if scope is Scope.SESSION:
        return facts.session
    if scope is Scope.AGENT:
        return facts.agent.name
    return "*"


_MEMO_SIZE = 65_536


def _key(
    policy: CompiledPolicy, call: ToolCall, facts: Facts, *, scope: Scope, name: str, window: Window
) -> CounterKey:
    """The counter's key for this call (memoised: building a key costs more than finding it)."""
    owner = scope_key(scope, facts)
    memo = policy.memo
    found = memo.get((call.server, owner, name))
    if found is None:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        found = CounterKey(call.server, scope, owner, name, window)
        memo[(call.server, owner, name)] = found
    return found


def _rate_charge(
    policy: CompiledPolicy, call: ToolCall, facts: Facts, rule: CompiledRule, limit: Any
) -> Charge:
    owner = scope_key(limit.scope, facts)
    memo = policy.memo
    found = memo.get((call.server, owner, "+" + limit.name))
    if found is None:
        key = _key(policy, call, facts, scope=limit.scope, name=limit.name, window=limit.window)
        found = Charge(key, _ONE, rule.name, limit.limit)
        memo[(call.server, owner, "+" + limit.name)] = found
    return found


def _counter_charge(
    policy: CompiledPolicy, call: ToolCall, facts: Facts, counter: CompiledCounter, amount: Decimal
) -> Charge:
    if counter.increment_from is not None:
        key = _key(
            policy, call, facts, scope=counter.scope, name=counter.key_name, window=counter.window
        )
        return Charge(key, amount, counter.rule)
    owner = scope_key(counter.scope, facts)
    memo = policy.memo
    found = memo.get((call.server, owner, "+" + counter.path))
    if found is None:
        key = _key(
            policy, call, facts, scope=counter.scope, name=counter.key_name, window=counter.window
        )
        found = Charge(key, amount, counter.rule)
        memo[(call.server, owner, "+" + counter.path)] = found
    return found


def build_subject(plan: Plan, call: ToolCall, facts: Facts) -> dict[str, Any]:
    """What conditions read: `args`, and `state` / `agent` when the plan's rules read them."""
    subject: dict[str, Any] = {"args": call.arguments}
    if plan.reads:
        state: dict[str, dict[str, Decimal]] = {}
        values = facts.counters
        for counter in plan.reads:
            state.setdefault(counter.tool, {})[counter.name] = values.get(counter.path, _ZERO)
        subject["state"] = state
    if plan.reads_agent:
        subject["agent"] = _agent(facts.agent)
    return subject


def _agent(agent: Agent) -> dict[str, Any]:
    return {"name": agent.name, "roles": sorted(agent.roles)}


def with_charge(
    subject: dict[str, Any], counter: CompiledCounter, amount: Decimal
) -> dict[str, Any]:
    """What a projected condition reads: `counter` once this call's charge is added.

    Projected conditions read only their rule's own counter, so nothing else is copied.
    """
    current = subject.get("state", {}).get(counter.tool, {}).get(counter.name, _ZERO)
    return {"state": {counter.tool: {counter.name: current + amount}}}


def _guarded(decision: Decision, guards: dict[CounterKey, Guard]) -> Decision:
    """A denial with the guards of the conditions judged before it (none: unchanged)."""
    return replace(decision, guards=guards) if guards else decision


def _narrow(
    guards: dict[CounterKey, Guard],
    leaves: tuple[StateLeaf, ...],
    *,
    policy: CompiledPolicy,
    call: ToolCall,
    facts: Facts,
    state: Mapping[str, Mapping[str, Decimal]],
    amount: Decimal,
) -> None:
    """Add to `guards` the range in which each leaf keeps its outcome (module docstring)."""
    for leaf in leaves:
        counter = leaf.counter
        value = state[counter.tool][counter.name]
        known = leaf.guards
        if known is not None:
            held, failed = known
            guard = held if held.admits(value) else failed
        elif leaf.threshold is None:
            guard = Guard.exactly(value)
        else:  # projected, and this call's charge comes from an argument
            threshold = subtract(leaf.threshold, amount)
            holds = ORDER_TESTS[leaf.op](value, threshold)
            guard = bound_guard(leaf.op, threshold, holds=holds)
        key = _key(
            policy, call, facts, scope=counter.scope, name=counter.key_name, window=counter.window
        )
        previous = guards.get(key)
        guards[key] = guard if previous is None else previous.within(guard)


def charge_amount(counter: CompiledCounter, arguments: Mapping[str, Any]) -> Decimal | str:
    """This call's charge to `counter`, or the reason the call must be denied."""
    if counter.increment_from is None:
        return counter.increment
    value = counter.increment_from(arguments)
    if value is MISSING:
        return (
            f"counter {counter.path!r} adds {counter.increment_from_text}, "
            "which this call does not have"
        )
    amount = _decimal(value)
    if amount is None:
        return (
            f"counter {counter.path!r} adds {counter.increment_from_text}, "
            f"which must be a number, got {value!r}"
        )
    if not amount.is_finite():
        return (
            f"counter {counter.path!r} adds {counter.increment_from_text}, "
            f"which must be finite, got {value!r}"
        )
    if amount < 0:
        return (
            f"counter {counter.path!r} adds {counter.increment_from_text}, "
            f"which must not be negative, got {value!r}"
        )
    return amount


def _decimal(value: Any) -> Decimal | None:
    """An exact Decimal for a JSON number (or a numeric string); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        # repr gives the shortest text that round-trips: 0.1 stays 0.1, not 0.1000000000000000055
        return Decimal(repr(value))
    if isinstance(value, str) and _NUMBER.match(value):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _deny_text(rule: CompiledRule, tool: str) -> str:
    return rule.message or f"calls to {tool!r} are denied by rule {rule.name!r}"


def _failure_text(rule: CompiledRule, tool: str, subject: Mapping[str, Any]) -> str:
    """The author's on_deny, or which condition failed, in words."""
    if rule.message:
        return rule.message
    for condition in rule.conditions:
        if not condition.predicate(subject):
            return f"rule {rule.name!r} denied {tool!r}: {describe_condition(condition)} failed"
    return f"rule {rule.name!r} denied {tool!r}"


def describe_condition(condition: CompiledCondition) -> str:
    """A condition in one line, as written: `args.amount lte 50000`, `any(...)`."""
    spec = condition.spec
    if spec.any_ is not None or spec.all_ is not None:
        word = "any" if spec.any_ is not None else "all"
        inner = ", ".join(describe_condition(child) for child in condition.children)
        return f"{word}({inner})"
    if spec.not_ is not None:
        return f"not({describe_condition(condition.children[0])})"
    text = f"{spec.path} {spec.op} {spec.value!r}" if spec.has_value else f"{spec.path} {spec.op}"
    return f"{text} (after this call)" if condition.projected else text
