"""`Guard`: a counter's admitted range, narrowed bound by bound (pure, no store)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from callgate.state.counters import UNGUARDED, Guard

NUMBERS = st.decimals(min_value=-50, max_value=50, places=1, allow_nan=False)
BOUND = st.tuples(st.sampled_from(["lt", "lte", "gt", "gte"]), NUMBERS)
TESTS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def narrowed(guard: Guard, op: str, bound: Decimal) -> Guard:
    if op in ("lt", "lte"):
        return guard.below(bound, inclusive=op == "lte")
    return guard.above(bound, inclusive=op == "gte")


@given(st.lists(BOUND, max_size=5), NUMBERS)
def test_a_narrowed_guard_admits_exactly_what_every_bound_admits(
    bounds: list[tuple[str, Decimal]], value: Decimal
) -> None:
    guard = UNGUARDED
    for op, bound in bounds:
        guard = narrowed(guard, op, bound)
    assert guard.admits(value) is all(TESTS[op](value, bound) for op, bound in bounds)


def test_an_exact_guard_admits_only_its_value_however_it_is_written() -> None:
    guard = Guard.exactly(Decimal("2.50"))
    assert guard.admits(Decimal("2.5"))
    assert not guard.admits(Decimal("2.5000000000000000000000000000001"))
    assert not guard.admits(Decimal("2.4999999999999999999999999999999"))


@given(st.lists(BOUND, max_size=3), st.lists(BOUND, max_size=3), NUMBERS)
def test_two_guards_together_admit_what_both_admit(
    first: list[tuple[str, Decimal]], second: list[tuple[str, Decimal]], value: Decimal
) -> None:
    guards = []
    for bounds in (first, second):
        guard = UNGUARDED
        for op, bound in bounds:
            guard = narrowed(guard, op, bound)
        guards.append(guard)
    both = guards[0].within(guards[1])
    assert both.admits(value) is (guards[0].admits(value) and guards[1].admits(value))
