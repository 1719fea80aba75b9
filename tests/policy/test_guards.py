"""Guards: the range of each counter in which the engine's decision stands.

The engine judges with counter values the proxy last saw; the store then checks, in the
same atomic step as the reservation, that every counter is still inside its guard. These
tests pin the bound each operator gives (holding and failing), projection, conjunction,
and, exhaustively over a grid, that a decision never changes inside its guards.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from callgate.policy.decision import Decision, Verdict
from callgate.state.counters import Guard
from tests.policy.support import compile_text, decide

ALWAYS = "conditions: [{path: args.unset, op: exists, value: false}]"
"""A condition that always holds, for rules that only define a counter."""

READS_OTHER = f"""
version: "1"
tools:
  other:
    rules:
      - name: count
        {ALWAYS}
        state: {{counter: n, window: day}}
  t:
    rules:
      - name: check
        conditions: [CONDITION]
"""


def reads_other(condition: str) -> str:
    """A policy whose tool `t` reads `state.other.n` in one condition."""
    return READS_OTHER.replace("CONDITION", condition)


def only_guard(decision: Decision) -> Guard:
    (guard,) = decision.guards.values()
    return guard


@pytest.mark.parametrize(
    ("op", "limit", "value", "allowed", "guard"),
    [
        ("lt", 10, 9, True, Guard().below(Decimal(10), inclusive=False)),
        ("lt", 10, 10, False, Guard().above(Decimal(10), inclusive=True)),
        ("lte", 10, 10, True, Guard().below(Decimal(10), inclusive=True)),
        ("lte", 10, 11, False, Guard().above(Decimal(10), inclusive=False)),
        ("gt", 10, 11, True, Guard().above(Decimal(10), inclusive=False)),
        ("gt", 10, 10, False, Guard().below(Decimal(10), inclusive=True)),
        ("gte", 10, 10, True, Guard().above(Decimal(10), inclusive=True)),
        ("gte", 10, 9, False, Guard().below(Decimal(10), inclusive=False)),
        ("gte", "'9.995'", "9.99", False, Guard().below(Decimal("9.995"), inclusive=False)),
        ("eq", 10, 10, True, Guard.exactly(Decimal(10))),
        ("neq", 10, 3, True, Guard.exactly(Decimal(3))),
        ("in", "[1, 2]", 7, False, Guard.exactly(Decimal(7))),
    ],
)
def test_each_operator_guards_the_side_of_its_threshold_the_value_was_on(
    op: str, limit: Any, value: Any, allowed: bool, guard: Guard
) -> None:
    policy = reads_other(f"{{path: state.other.n, op: {op}, value: {limit}}}")
    decision = decide(policy, "t", counters={"other.n": value})
    assert decision.allowed is allowed
    assert only_guard(decision) == guard
    assert guard.admits(Decimal(value))
    assert not decision.charges  # nothing to reserve: the proxy confirms the guard instead


SPEND_LT = """
version: "1"
tools:
  pay:
    rules:
      - name: cap
        conditions: [{path: state.pay.spent, op: lt, value: 10}]
        state: {counter: spent, window: day, increment_from: args.amount}
"""


@pytest.mark.parametrize(
    ("spent", "allowed", "guard"),
    [
        ("7", True, Guard().below(Decimal("7.5"), inclusive=False)),  # 7 + 2.5 < 10
        ("7.5", False, Guard().above(Decimal("7.5"), inclusive=True)),  # 7.5 + 2.5 = 10
    ],
)
def test_a_projected_condition_guards_the_value_before_this_calls_charge(
    spent: str, allowed: bool, guard: Guard
) -> None:
    decision = decide(SPEND_LT, "pay", {"amount": "2.5"}, counters={"pay.spent": spent})
    assert decision.allowed is allowed
    assert only_guard(decision) == guard


def test_leaves_on_one_counter_make_one_range() -> None:
    policy = reads_other(
        "{all: [{path: state.other.n, op: gt, value: 3}, {path: state.other.n, op: lt, value: 10}]}"
    )
    decision = decide(policy, "t", counters={"other.n": 5})
    assert decision.allowed
    assert only_guard(decision) == Guard(Decimal(3), True, Decimal(10), True)


def test_a_denial_carries_the_guards_of_the_conditions_judged_before_it() -> None:
    policy = """
    version: "1"
    tools:
      pay:
        rules:
          - name: cap
            conditions: [{path: state.pay.spent, op: lte, value: 100}]
            state: {counter: spent, window: day, increment_from: args.amount}
          - name: currency
            conditions: [{path: args.currency, op: eq, value: usd}]
    """
    denied = decide(policy, "pay", {"amount": 5, "currency": "eur"}, counters={"pay.spent": 1})
    assert (denied.verdict, denied.rule) == (Verdict.DENY, "currency")
    assert only_guard(denied) == Guard().below(Decimal(95), inclusive=True)
    over = decide(policy, "pay", {"amount": 5, "currency": "usd"}, counters={"pay.spent": 99})
    assert (over.verdict, over.rule) == (Verdict.DENY, "cap")
    assert only_guard(over) == Guard().above(Decimal(95), inclusive=False)


def test_rules_never_reached_add_no_guard() -> None:
    policy = """
    version: "1"
    tools:
      pay:
        rules:
          - name: currency
            conditions: [{path: args.currency, op: eq, value: usd}]
          - name: cap
            conditions: [{path: state.pay.spent, op: lte, value: 100}]
            state: {counter: spent, window: day, increment_from: args.amount}
    """
    denied = decide(policy, "pay", {"amount": 5, "currency": "eur"}, counters={"pay.spent": 1})
    assert (denied.rule, dict(denied.guards)) == ("currency", {})


def test_an_approval_decision_carries_its_guards() -> None:
    policy = """
    version: "1"
    tools:
      pay:
        rules:
          - name: big spender
            action: require_approval
            conditions: [{path: state.pay.spent, op: gt, value: 100}]
          - name: count
            conditions: [{path: args.unset, op: exists, value: false}]
            state: {counter: spent, window: day, increment_from: args.amount}
    """
    asked = decide(policy, "pay", {"amount": 5}, counters={"pay.spent": 101})
    assert asked.verdict is Verdict.APPROVAL_REQUIRED
    assert only_guard(asked) == Guard().above(Decimal(100), inclusive=False)
    quiet = decide(policy, "pay", {"amount": 5}, counters={"pay.spent": 100})
    assert quiet.verdict is Verdict.ALLOW
    assert only_guard(quiet) == Guard().below(Decimal(100), inclusive=True)


MIXED = f"""
version: "1"
tools:
  other:
    rules:
      - name: counts
        {ALWAYS}
        state: {{counter: a, window: day}}
      - name: more counts
        {ALWAYS}
        state: {{counter: b, window: hour, scope: agent}}
  pay:
    rules:
      - name: a or not b
        conditions:
          - any:
              - {{path: state.other.a, op: lt, value: 10}}
              - not: {{path: state.other.b, op: gte, value: 5}}
      - name: ask when busy
        action: require_approval
        conditions:
          - all:
              - {{path: state.other.a, op: gt, value: 3}}
              - {{path: state.other.b, op: neq, value: 7}}
      - name: cap
        conditions: [{{path: state.pay.spent, op: lte, value: 100}}]
        on_deny: spend cap reached
        state: {{counter: spent, window: day, increment_from: args.amount}}
"""
A_VALUES = ["0", "3", "3.5", "4", "9.99", "10", "11"]
B_VALUES = ["0", "4", "5", "7", "8"]
SPENT_VALUES = ["0", "94", "95", "95.5", "96", "100"]


def test_no_decision_changes_while_every_counter_stays_inside_its_guard() -> None:
    """Exhaustive over a grid around every threshold: judge at one point, then at every
    other point the guards admit; the verdict, rule and reason must not change."""
    policy = compile_text(MIXED)
    grid = [
        {"other.a": a, "other.b": b, "pay.spent": spent}
        for a, b, spent in itertools.product(A_VALUES, B_VALUES, SPENT_VALUES)
    ]
    decisions = [decide(policy, "pay", {"amount": 5}, counters=point) for point in grid]
    admitted = refused = 0
    for decision in decisions:
        paths = {key.name: guard for key, guard in decision.guards.items()}
        for point, other in zip(grid, decisions, strict=True):
            inside = all(guard.admits(Decimal(point[name])) for name, guard in paths.items())
            if inside:
                admitted += 1
                assert (other.verdict, other.rule, other.reason) == (
                    decision.verdict,
                    decision.rule,
                    decision.reason,
                )
            else:
                refused += 1
    verdicts = {decision.verdict for decision in decisions}
    assert verdicts == {Verdict.ALLOW, Verdict.DENY, Verdict.APPROVAL_REQUIRED}
    assert admitted > len(grid) and refused > len(grid)  # neither vacuous nor everything
