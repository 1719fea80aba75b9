"""The counter-store contract, run over every backend (memory, SQLite, Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import anyio
import pytest

from callgate.state.amounts import subtract
from callgate.state.counters import (
    UNGUARDED,
    Charge,
    CounterKey,
    Guard,
    Scope,
    Window,
    WindowKind,
)
from callgate.state.store import CounterStore, Rejection, Reservation
from tests.state.conftest import Backend

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()
MINUTE = 60
DAY = 86_400


def rate_key(name: str = "rate:per-minute", seconds: int = MINUTE) -> CounterKey:
    window = Window(WindowKind.SLIDING, seconds)
    return CounterKey("github", Scope.SESSION, "session-1", name, window)


def rate(limit: int, key: CounterKey | None = None) -> Charge:
    return Charge(key or rate_key(), Decimal(1), rule="per-minute", limit=limit)


def counter_key(name: str = "create_charge.spend", seconds: int = DAY) -> CounterKey:
    return CounterKey("stripe", Scope.GLOBAL, "*", name, Window(WindowKind.CALENDAR, seconds))


def spend(amount: str, key: CounterKey | None = None, limit: int | None = None) -> Charge:
    return Charge(key or counter_key(), Decimal(amount), rule="daily-spend", limit=limit)


async def reserved(store: CounterStore, *charges: Charge, now: float = NOW) -> Reservation:
    """Reserve and insist it succeeded."""
    result = await store.reserve(charges, {}, now)
    assert isinstance(result, Reservation), result
    return result


async def value(store: CounterStore, key: CounterKey, now: float = NOW) -> Decimal:
    return (await store.read([key], now))[key]


async def test_limit_allows_exactly_n_then_rejects_with_retry_after(store: CounterStore) -> None:
    for _ in range(3):
        await reserved(store, rate(3))
    result = await store.reserve([rate(3)], {}, NOW)
    assert result == Rejection(charge=rate(3), retry_after=float(MINUTE))
    assert await value(store, rate_key()) == 3


async def test_sliding_window_never_allows_more_than_n_in_any_interval(
    store: CounterStore,
) -> None:
    limit, accepted = 5, list[float]()
    for step in range(200):
        now = NOW + step * 7.25
        result = await store.reserve([rate(limit)], {}, now)
        in_window = [stamp for stamp in accepted if stamp > now - MINUTE]
        if isinstance(result, Reservation):
            assert len(in_window) < limit
            accepted.append(now)
        else:
            assert len(in_window) == limit
            assert result.retry_after == pytest.approx(in_window[0] + MINUTE - now, abs=1e-9)
    for index, stamp in enumerate(accepted):
        assert sum(1 for later in accepted[index:] if later < stamp + MINUTE) <= limit
    assert len(accepted) > limit  # capacity came back as time passed


async def test_a_slot_frees_exactly_when_the_oldest_event_leaves(store: CounterStore) -> None:
    await reserved(store, rate(2), now=NOW)
    await reserved(store, rate(2), now=NOW + 10)
    rejected = await store.reserve([rate(2)], {}, NOW + 59)
    assert isinstance(rejected, Rejection)
    assert rejected.retry_after == pytest.approx(1.0)
    assert isinstance(await store.reserve([rate(2)], {}, NOW + 59.999), Rejection)
    await reserved(store, rate(2), now=NOW + 60)
    assert await value(store, rate_key(), NOW + 60) == 2


async def test_retry_after_walks_events_of_any_amount_oldest_first(store: CounterStore) -> None:
    key = rate_key("weighted")

    def weighted(amount: int) -> Charge:
        return Charge(key, Decimal(amount), rule="weighted", limit=5)

    for offset, amount in [(0, 2), (10, 1), (20, 1), (30, 1)]:
        await reserved(store, weighted(amount), now=NOW + offset)
    one_more = await store.reserve([weighted(1)], {}, NOW + 40)
    assert one_more == Rejection(charge=weighted(1), retry_after=20.0)
    three_more = await store.reserve([weighted(3)], {}, NOW + 40)
    assert three_more == Rejection(charge=weighted(3), retry_after=30.0)
    await reserved(store, weighted(3), now=NOW + 70)
    assert await value(store, key, NOW + 70) == 5


async def test_capacity_returns_after_an_idle_window(store: CounterStore) -> None:
    for _ in range(4):
        await reserved(store, rate(4))
    later = NOW + MINUTE + 0.5
    assert await value(store, rate_key(), later) == 0
    for _ in range(4):
        await reserved(store, rate(4), now=later)
    assert isinstance(await store.reserve([rate(4)], {}, later), Rejection)


async def test_sliding_counter_without_limit_sums_amounts_in_window(store: CounterStore) -> None:
    key = rate_key("tokens", seconds=10)
    await reserved(store, Charge(key, Decimal("2.5"), rule="tokens"), now=NOW)
    await reserved(store, Charge(key, Decimal("4"), rule="tokens"), now=NOW + 5)
    assert await value(store, key, NOW + 9) == Decimal("6.5")
    assert await value(store, key, NOW + 12) == Decimal("4")
    assert await value(store, key, NOW + 15) == 0


@pytest.mark.parametrize(
    ("seconds", "before", "after"),
    [
        (MINUTE, datetime(2026, 11, 25, 12, 0, 59, 999000), datetime(2026, 11, 25, 12, 1)),
        (3_600, datetime(2026, 11, 25, 12, 59, 59), datetime(2026, 11, 25, 13, 0)),
        (DAY, datetime(2026, 11, 25, 23, 59, 59), datetime(2026, 11, 26, 0, 0)),
    ],
)
async def test_calendar_bucket_resets_at_utc_boundary(
    store: CounterStore, seconds: int, before: datetime, after: datetime
) -> None:
    key = counter_key(seconds=seconds)
    start = before.replace(tzinfo=UTC).timestamp()
    end = after.replace(tzinfo=UTC).timestamp()
    bucket_opening = end - seconds
    await reserved(store, spend("7", key), now=bucket_opening)
    await reserved(store, spend("3", key), now=start)
    assert await value(store, key, start) == 10
    assert await value(store, key, end) == 0
    await reserved(store, spend("1", key), now=end)
    assert await value(store, key, end) == 1


async def test_calendar_limit_waits_for_the_next_bucket(store: CounterStore) -> None:
    key = counter_key(seconds=3_600)
    await reserved(store, spend("90", key, limit=100), now=NOW + 600)
    rejected = await store.reserve([spend("11", key, limit=100)], {}, NOW + 600)
    assert rejected == Rejection(charge=spend("11", key, limit=100), retry_after=3_000.0)
    await reserved(store, spend("10", key, limit=100), now=NOW + 600)


async def test_charge_larger_than_its_limit_can_never_fit(store: CounterStore) -> None:
    too_big = Charge(rate_key(), Decimal(3), rule="per-minute", limit=2)
    assert await store.reserve([too_big], {}, NOW) == Rejection(charge=too_big, retry_after=None)


async def test_reservation_is_all_or_nothing(store: CounterStore) -> None:
    await reserved(store, rate(1))
    for charges in ([spend("5"), rate(1)], [rate(1), spend("5")]):
        result = await store.reserve(charges, {}, NOW)
        assert isinstance(result, Rejection)
        assert result.charge == rate(1)
    assert await store.read([counter_key(), rate_key()], NOW) == {
        counter_key(): 0,
        rate_key(): 1,
    }


async def test_two_charges_on_one_key_in_one_call_both_count(store: CounterStore) -> None:
    await reserved(store, rate(3), rate(3))
    result = await store.reserve([rate(3), rate(3)], {}, NOW)
    assert isinstance(result, Rejection)
    assert await value(store, rate_key()) == 2


async def test_guard_out_of_range_rejects_with_fresh_values_and_changes_nothing(
    store: CounterStore,
) -> None:
    await reserved(store, spend("5"))
    guards = {counter_key(): Guard().below(Decimal(5), inclusive=False), rate_key(): UNGUARDED}
    result = await store.reserve([spend("1"), rate(10)], guards, NOW)
    assert result == Rejection(
        charge=None,
        stale_key=counter_key(),
        fresh={counter_key(): Decimal(5), rate_key(): Decimal(0)},
    )
    assert await store.read([counter_key(), rate_key()], NOW) == {
        counter_key(): 5,
        rate_key(): 0,
    }


async def test_guard_in_range_lets_the_charges_through_whatever_the_exact_value(
    store: CounterStore,
) -> None:
    await reserved(store, spend("5"))
    await reserved(store, spend("2.5"))  # another caller moved it, still in range
    guards = {counter_key(): Guard().below(Decimal(10), inclusive=True)}
    result = await store.reserve([spend("1"), rate(10)], guards, NOW)
    assert isinstance(result, Reservation)
    assert result.values == {counter_key(): Decimal("8.5")}  # after this reservation's charge
    assert await value(store, counter_key()) == Decimal("8.5")


@pytest.mark.parametrize(
    ("guard", "admitted"),
    [
        (Guard().below(Decimal("7.5"), inclusive=True), True),
        (Guard().below(Decimal("7.5"), inclusive=False), False),
        (Guard().above(Decimal("7.5"), inclusive=True), True),
        (Guard().above(Decimal("7.5"), inclusive=False), False),
        (Guard().above(Decimal("7.49"), inclusive=False), True),
        (Guard().below(Decimal("7.51"), inclusive=False), True),
        (Guard.exactly(Decimal("7.50")), True),
        (Guard.exactly(Decimal("7.500000000000000000000000001")), False),
        (Guard().above(Decimal(-1), inclusive=False).below(Decimal(8), inclusive=False), True),
        (Guard().above(Decimal(0), inclusive=True).below(Decimal(7), inclusive=True), False),
        (UNGUARDED, True),
    ],
)
async def test_guard_bounds_are_checked_exactly_at_the_edges(
    store: CounterStore, guard: Guard, admitted: bool
) -> None:
    await reserved(store, spend("7.5"))
    result = await store.reserve([spend("1")], {counter_key(): guard}, NOW)
    assert isinstance(result, Reservation) is admitted
    assert await value(store, counter_key()) == (Decimal("8.5") if admitted else Decimal("7.5"))


async def test_guard_on_a_sliding_window_sees_its_current_sum(store: CounterStore) -> None:
    for offset in (0, 30):
        await reserved(store, rate(10), now=NOW + offset)
    at_most_one = {rate_key(): Guard().below(Decimal(1), inclusive=True)}
    assert isinstance(await store.reserve([], at_most_one, NOW + 45), Rejection)
    confirmed = await store.reserve([], at_most_one, NOW + 61)  # the first one has left
    assert isinstance(confirmed, Reservation)
    assert confirmed.values == {rate_key(): 1}


async def test_confirming_guards_without_charges_changes_nothing(store: CounterStore) -> None:
    await reserved(store, spend("3"))
    over = {counter_key(): Guard().above(Decimal(2), inclusive=False)}
    confirmed = await store.reserve([], over, NOW)
    assert isinstance(confirmed, Reservation)
    assert confirmed.values == {counter_key(): 3}
    await store.rollback(confirmed, NOW)  # holds nothing: nothing to undo
    under = {counter_key(): Guard().below(Decimal(2), inclusive=True)}
    assert await store.reserve([], under, NOW) == Rejection(
        charge=None, stale_key=counter_key(), fresh={counter_key(): Decimal(3)}
    )
    assert await value(store, counter_key()) == 3


async def test_guards_on_a_charged_key_see_the_value_before_the_charge(
    store: CounterStore,
) -> None:
    await reserved(store, spend("49"))
    # A projected cap: 49 + 1 <= 50, so the guard is "at most 49 before this charge".
    cap = {counter_key(): Guard().below(Decimal(49), inclusive=True)}
    first = await store.reserve([spend("1")], cap, NOW)
    assert isinstance(first, Reservation)
    assert first.values == {counter_key(): 50}
    second = await store.reserve([spend("1")], cap, NOW)
    assert second == Rejection(
        charge=None, stale_key=counter_key(), fresh={counter_key(): Decimal(50)}
    )


async def test_huge_and_tiny_bounds_compare_exactly(store: CounterStore) -> None:
    await reserved(store, spend("12345678901234567890.123456789"))
    edge = Decimal("12345678901234567890.123456789")
    # 30 digits: Python's default decimal context would round `edge - 1E-9` back to edge.
    just_below = {counter_key(): Guard().below(subtract(edge, Decimal("1E-9")), inclusive=True)}
    assert isinstance(await store.reserve([], just_below, NOW), Rejection)
    at_edge = {counter_key(): Guard().below(edge, inclusive=True)}
    assert isinstance(await store.reserve([], at_edge, NOW), Reservation)
    huge = {counter_key(): Guard().below(Decimal("1E+40"), inclusive=False)}
    assert isinstance(await store.reserve([], huge, NOW), Reservation)


async def test_uncommitted_reservations_count_toward_limits(store: CounterStore) -> None:
    first = await reserved(store, rate(1), spend("4"))
    assert await store.read([rate_key(), counter_key()], NOW) == {
        rate_key(): 1,
        counter_key(): 4,
    }
    assert isinstance(await store.reserve([rate(1)], {}, NOW), Rejection)
    await store.commit(first, NOW)
    assert isinstance(await store.reserve([rate(1)], {}, NOW), Rejection)


async def test_rollback_restores_values_and_capacity(store: CounterStore) -> None:
    kept = await reserved(store, spend("1.25"))
    await store.commit(kept, NOW)
    undone = await reserved(store, rate(1), spend("4.5"))
    await store.rollback(undone, NOW + 1)
    assert await store.read([rate_key(), counter_key()], NOW + 1) == {
        rate_key(): 0,
        counter_key(): Decimal("1.25"),
    }
    await reserved(store, rate(1), now=NOW + 1)


async def test_rollback_is_idempotent_and_ignores_unknown_and_committed(
    store: CounterStore,
) -> None:
    undone = await reserved(store, spend("2"), rate(5))
    await store.rollback(undone, NOW)
    await store.rollback(undone, NOW)
    await store.rollback(Reservation(id="never-made", charges=()), NOW)
    committed = await reserved(store, spend("3"), rate(5))
    await store.commit(committed, NOW)
    await store.rollback(committed, NOW)
    await store.commit(committed, NOW)
    assert await store.read([counter_key(), rate_key()], NOW) == {
        counter_key(): 3,
        rate_key(): 1,
    }


async def test_rollback_removes_only_its_own_events(store: CounterStore) -> None:
    mine = await reserved(store, rate(10), spend("0.5"))
    others = await reserved(store, rate(10), spend("0.25"))
    await store.rollback(mine, NOW)
    assert await store.read([rate_key(), counter_key()], NOW) == {
        rate_key(): 1,
        counter_key(): Decimal("0.25"),
    }
    await store.rollback(others, NOW)
    assert await store.read([rate_key(), counter_key()], NOW) == {
        rate_key(): 0,
        counter_key(): 0,
    }


@pytest.mark.parametrize(
    ("amounts", "total"),
    [
        (["0.1", "0.2"], "0.3"),
        (["12345678901234567890.123456789", "0.000000001"], "12345678901234567890.12345679"),
        (["98765432109876543210.0123456789", "0.0000000001"], "98765432109876543210.012345679"),
        (["1E+2", "0.01", "33.333"], "133.343"),
        (["0.000001"] * 7, "0.000007"),
    ],
)
async def test_decimal_amounts_are_exact(
    store: CounterStore, amounts: list[str], total: str
) -> None:
    for amount in amounts:
        await reserved(store, spend(amount))
    assert await value(store, counter_key()) == Decimal(total)
    sliding = rate_key("tokens")
    for amount in amounts:
        await reserved(store, Charge(sliding, Decimal(amount), rule="tokens"))
    assert await value(store, sliding) == Decimal(total)


async def test_rollback_subtracts_decimals_exactly(store: CounterStore) -> None:
    await reserved(store, spend("0.2"))
    undone = await reserved(store, spend("0.1"))
    await store.rollback(undone, NOW)
    assert await value(store, counter_key()) == Decimal("0.2")


async def test_keys_differing_in_any_part_are_separate_counters(store: CounterStore) -> None:
    base = rate_key()
    longer = Window(WindowKind.SLIDING, 61)
    variants = [
        CounterKey("gitlab", base.scope, base.scope_key, base.name, base.window),
        CounterKey(base.server, Scope.AGENT, base.scope_key, base.name, base.window),
        CounterKey(base.server, base.scope, "session-2", base.name, base.window),
        CounterKey(base.server, base.scope, base.scope_key, "rate:other", base.window),
        CounterKey(base.server, base.scope, base.scope_key, base.name, longer),
    ]
    await reserved(store, rate(1, base))
    for key in variants:
        await reserved(store, rate(1, key))
    assert set((await store.read([base, *variants], NOW)).values()) == {Decimal(1)}


async def test_concurrent_reservations_enforce_the_limit_exactly(backend: Backend) -> None:
    handles = [backend.open(), backend.open()]
    outcomes: list[bool] = []

    async def attempt(index: int) -> None:
        store = handles[index % len(handles)]
        result = await store.reserve([rate(50)], {}, NOW + index * 0.001)
        outcomes.append(isinstance(result, Reservation))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            for index in range(200):
                tasks.start_soon(attempt, index)
    assert len(outcomes) == 200
    assert outcomes.count(True) == 50
    assert await value(handles[0], rate_key(), NOW + 1) == 50


# Memory counters live only as long as the process, so only the persistent backends.
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)], indirect=True
)
async def test_counters_survive_reopening_the_store(backend: Backend) -> None:
    assert backend.persistent
    first = backend.open()
    await first.commit(await reserved(first, rate(5), spend("9.99")), NOW)
    await reserved(first, spend("0.01"))  # in flight when the process goes away
    await first.aclose()
    second = backend.open()
    # What was in flight stays counted: a store errs towards the limit.
    assert await second.read([rate_key(), counter_key()], NOW) == {
        rate_key(): 1,
        counter_key(): Decimal("10.00"),
    }


async def test_read_of_no_keys_is_empty(store: CounterStore) -> None:
    assert await store.read([], NOW) == {}


async def test_reserve_with_no_charges_succeeds_and_commits(store: CounterStore) -> None:
    reservation = await reserved(store)
    assert reservation.charges == ()
    await store.commit(reservation, NOW)
    await store.rollback(reservation, NOW)


@pytest.mark.parametrize(
    "charge",
    [
        Charge(counter_key(), Decimal("-1"), rule="refund"),
        Charge(counter_key(), Decimal("NaN"), rule="broken"),
        Charge(counter_key(), Decimal("Infinity"), rule="broken"),
        Charge(rate_key(), Decimal(1), rule="broken", limit=-1),
    ],
)
async def test_amounts_that_would_corrupt_a_counter_are_refused(
    store: CounterStore, charge: Charge
) -> None:
    await reserved(store, spend("5"))
    with pytest.raises(ValueError, match="must"):
        await store.reserve([spend("1"), charge], {}, NOW)
    assert await store.read([counter_key(), rate_key()], NOW) == {
        counter_key(): 5,
        rate_key(): 0,
    }
