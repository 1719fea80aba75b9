"""Random sequences of reserve / commit / roll back / read give the same answers everywhere.

The memory store is the reference; SQLite and Redis must agree with it step by step
(outcome, retry-after and every counter's value), whatever order calls come in.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callgate.state.counters import Charge, CounterKey, Scope, Window, WindowKind
from callgate.state.memory import MemoryStore
from callgate.state.redis import RedisStore
from callgate.state.sqlite import SqliteStore
from callgate.state.store import CounterStore, Reservation
from tests.fixtures.redis import RedisServer

NOW = 1_790_000_000.0
KEYS = [
    CounterKey("srv", Scope.SESSION, "s", "rate:a", Window(WindowKind.SLIDING, 10)),
    CounterKey("srv", Scope.AGENT, "bot", "tokens", Window(WindowKind.SLIDING, 20)),
    CounterKey("srv", Scope.GLOBAL, "*", "spend", Window(WindowKind.CALENDAR, 60)),
]
AMOUNTS = [Decimal(1), Decimal(1), Decimal(1), Decimal(2), Decimal("0.5"), Decimal("0.25")]


@dataclass(frozen=True)
class Step:
    """One call: advance the clock, then reserve, settle an earlier reservation, or read."""

    advance: float
    action: str
    charges: tuple[tuple[int, int, int | None], ...] = ()
    target: int = 0


STEPS = st.builds(
    Step,
    advance=st.sampled_from([0.0, 0.5, 3.0, 9.99, 10.0, 25.0]),
    action=st.sampled_from(["reserve", "reserve", "commit", "rollback", "read"]),
    charges=st.lists(
        st.tuples(
            st.integers(0, len(KEYS) - 1),
            st.integers(0, len(AMOUNTS) - 1),
            st.one_of(st.none(), st.integers(0, 4)),
        ),
        max_size=3,
    ).map(tuple),
    target=st.integers(0, 50),
)


async def run(store: CounterStore, steps: list[Step]) -> list[object]:
    """What a store answers to each step, in a comparable form."""
    answers: list[object] = []
    reservations: list[Reservation] = []
    now = NOW
    for step in steps:
        now += step.advance
        if step.action == "reserve":
            charges = [
                Charge(KEYS[key], AMOUNTS[amount], rule="r", limit=limit)
                for key, amount, limit in step.charges
            ]
            result = await store.reserve(charges, {}, now)
            if isinstance(result, Reservation):
                reservations.append(result)
                answers.append("reserved")
            else:
                answers.append((result.charge, _rounded(result.retry_after)))
        elif step.action in ("commit", "rollback") and reservations:
            reservation = reservations[step.target % len(reservations)]
            settle = store.commit if step.action == "commit" else store.rollback
            await settle(reservation, now)
        answers.append(await store.read(KEYS, now))
    await store.aclose()
    return answers


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 6)


@pytest.mark.redis
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEPS, max_size=40))
def test_every_store_answers_like_the_memory_store(
    redis_server: RedisServer, steps: list[Step]
) -> None:
    redis_server.flush()
    with tempfile.TemporaryDirectory() as directory:
        expected = anyio.run(run, MemoryStore(), steps)
        assert anyio.run(run, SqliteStore(Path(directory) / "state.db"), steps) == expected
        assert anyio.run(run, RedisStore(redis_server.url()), steps) == expected
