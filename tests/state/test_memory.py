"""MemoryStore beyond the contract: memory stays bounded as sessions come and go."""

from __future__ import annotations

import pytest

from callgate.state.counters import CounterKey, Scope
from callgate.state.memory import SWEEP_EVERY, MemoryStore
from callgate.state.store import Reservation
from tests.state.test_contract import MINUTE, NOW, rate, rate_key

pytestmark = pytest.mark.anyio


async def test_many_short_lived_sessions_do_not_pile_up_in_memory() -> None:
    store = MemoryStore()
    for session in range(3 * SWEEP_EVERY):
        key = CounterKey("github", Scope.SESSION, f"s{session}", "rate:r", rate_key().window)
        # Every other reservation is never settled (a caller that went away).
        result = await store.reserve([rate(5, key)], {}, NOW + session)
        assert isinstance(result, Reservation)
        if session % 2:
            await store.commit(result, NOW + session)
    live_sessions = MINUTE + SWEEP_EVERY
    assert len(store._logs) <= live_sessions
    assert len(store._pending) <= live_sessions
