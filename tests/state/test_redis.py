"""RedisStore beyond the contract: outages, one round trip, TTLs, exact Lua decimals."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import anyio
import pytest
import redis
import redis.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.state.amounts import add
from callgate.state.counters import Charge, CounterKey, Guard, Scope, Window, WindowKind
from callgate.state.redis import DECIMAL_LUA, RESERVE_LUA, RedisStore
from callgate.state.store import Reservation, StoreUnavailable
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

NOW = 1_790_000_000.0
RATE = CounterKey("github", Scope.AGENT, "ci-bot", "rate:r", Window(WindowKind.SLIDING, 60))
SPEND = CounterKey("stripe", Scope.GLOBAL, "*", "spend", Window(WindowKind.CALENDAR, 86_400))


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    redis_server.flush()
    return redis_server


@pytest.fixture
async def store(server: RedisServer) -> AsyncIterator[RedisStore]:
    opened = RedisStore(server.url())
    yield opened
    await opened.aclose()


@pytest.fixture
def inspector(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    yield client
    client.close()


def charges(limit: int = 10) -> list[Charge]:
    return [
        Charge(RATE, Decimal(1), rule="r", limit=limit),
        Charge(SPEND, Decimal("12.50"), rule="spend"),
    ]


async def test_outage_is_store_unavailable_and_recovery_needs_no_restart(
    private_redis_server: RedisServer,
) -> None:
    store = RedisStore(private_redis_server.url())
    first = await store.reserve(charges(), {}, NOW)
    assert isinstance(first, Reservation)
    await store.commit(first, NOW)
    private_redis_server.stop()
    with anyio.fail_after(5):
        with pytest.raises(StoreUnavailable, match=r"Redis state store at redis://127\.0\.0\.1"):
            await store.reserve(charges(), {}, NOW)
        with pytest.raises(StoreUnavailable):
            await store.read([RATE], NOW)
        with pytest.raises(StoreUnavailable):
            await store.commit(first, NOW)
        with pytest.raises(StoreUnavailable):
            await store.rollback(first, NOW)
    private_redis_server.start()
    with anyio.fail_after(5):
        second = await store.reserve(charges(), {}, NOW + 1)
    assert isinstance(second, Reservation)
    # The server saved its data when it stopped, so the first call still counts.
    assert await store.read([RATE, SPEND], NOW + 1) == {RATE: 2, SPEND: Decimal("25.00")}
    await store.aclose()


async def test_unreachable_redis_fails_within_the_timeouts(
    private_redis_server: RedisServer,
) -> None:
    private_redis_server.stop()
    store = RedisStore(private_redis_server.url(), connect_timeout=0.2, socket_timeout=0.2)
    with anyio.fail_after(2), pytest.raises(StoreUnavailable, match="unavailable"):
        await store.reserve(charges(), {}, NOW)
    await store.aclose()


async def test_error_message_does_not_show_the_password(
    private_redis_server: RedisServer,
) -> None:
    private_redis_server.stop()
    url = f"redis://:s3cret@{private_redis_server.host}:{private_redis_server.port}/0"
    store = RedisStore(url)
    with anyio.fail_after(5), pytest.raises(StoreUnavailable) as raised:
        await store.read([RATE], NOW)
    assert "s3cret" not in str(raised.value)
    await store.aclose()


async def test_a_decision_is_one_round_trip(
    store: RedisStore, server: RedisServer, inspector: redis.Redis
) -> None:
    # Connect both clients and load the script before watching.
    await store.commit(await _reserve(store), NOW)
    inspector.ping()
    monitor_client = redis.asyncio.Redis(host=server.host, port=server.port)
    seen: list[str] = []
    async with monitor_client.monitor() as monitor:
        reservation = await _reserve(
            store, guards={SPEND: Guard().below(Decimal("12.5"), inclusive=True)}
        )
        await store.commit(reservation, NOW)
        inspector.echo("end-of-decision")
        with anyio.fail_after(5):
            while True:
                command = await monitor.next_command()
                if "end-of-decision" in command["command"]:
                    break
                if command["client_type"] != "lua":
                    seen.append(command["command"].split()[0].upper())
    await monitor_client.aclose()
    assert seen == ["EVALSHA", "DEL"]


async def test_keys_use_the_callgate_prefix_and_expire(
    store: RedisStore, inspector: redis.Redis
) -> None:
    reservation = await _reserve(store)
    keys = set(inspector.keys("*"))
    assert keys == {
        f"callgate:{RATE.render()}",
        f"callgate:{SPEND.render()}@{int(NOW // 86_400 * 86_400)}",
        f"callgate:reservation:{reservation.id}",
    }
    for key in keys:
        ttl = inspector.pttl(key)
        assert 0 < ttl <= 86_400_000 + 1_000
    assert 59_000 < inspector.pttl(f"callgate:{RATE.render()}") <= 61_000
    await store.commit(reservation, NOW)
    assert f"callgate:reservation:{reservation.id}" not in set(inspector.keys("*"))


async def test_two_clients_enforce_one_limit_exactly(server: RedisServer) -> None:
    clients = [RedisStore(server.url()), RedisStore(server.url())]
    allowed = 0

    async def attempt(index: int) -> None:
        nonlocal allowed
        result = await clients[index % 2].reserve(charges(limit=50), {}, NOW)
        allowed += isinstance(result, Reservation)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tasks:
            for index in range(200):
                tasks.start_soon(attempt, index)
    assert allowed == 50
    for client in clients:
        await client.aclose()


async def _reserve(store: RedisStore, guards: dict[CounterKey, Guard] | None = None) -> Reservation:
    result = await store.reserve(charges(), guards or {}, NOW)
    assert isinstance(result, Reservation), result
    return result


DECIMALS = st.decimals(
    min_value=Decimal("-1e30"), max_value=Decimal("1e30"), allow_nan=False, places=None
).filter(lambda value: value.is_finite())


@settings(max_examples=300, deadline=None)
@given(first=DECIMALS, second=DECIMALS)
def test_lua_decimal_addition_is_exact(
    redis_server: RedisServer, first: Decimal, second: Decimal
) -> None:
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    script = DECIMAL_LUA + "return {dec_add(ARGV[1], ARGV[2]), dec_sign(ARGV[1])}"
    try:
        result, sign = client.eval(script, 0, format(first, "f"), format(second, "f"))
    finally:
        client.close()
    assert Decimal(result) == add(first, second)
    assert sign == (first > 0) - (first < 0)


@settings(max_examples=300, deadline=None)
@given(
    value=DECIMALS,
    bound=st.one_of(DECIMALS, st.none()),
    lower=st.booleans(),
    inclusive=st.booleans(),
)
def test_lua_guard_check_agrees_with_guard_admits(
    redis_server: RedisServer,
    value: Decimal,
    bound: Decimal | None,
    lower: bool,
    inclusive: bool,
) -> None:
    edge = value if bound is None else bound  # None: the bound is the value itself
    guard = (
        Guard().above(edge, inclusive=inclusive)
        if lower
        else Guard().below(edge, inclusive=inclusive)
    )
    plain = format(edge, "f")
    open_end = "0" if inclusive else "1"
    ends = [plain, open_end, "", "0"] if lower else ["", "0", plain, open_end]
    client = redis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    try:
        client.set("callgate:guarded", format(value, "f"))
        reply = client.eval(
            RESERVE_LUA,
            2,
            *("callgate:reservation:never", "callgate:guarded"),
            *(repr(NOW), "never", "1", "0", "c", "86400", *ends),
        )
    finally:
        client.delete("callgate:guarded")
        client.close()
    assert (reply[0] == "ok") is guard.admits(value)
    assert Decimal(reply[-1]) == value  # the value, returned either way


async def test_a_resent_reservation_is_not_charged_twice(store: RedisStore) -> None:
    # A reply lost on a broken connection makes the client send the same script again:
    # same reservation id, so the second run must change nothing.
    first = await _reserve(store)
    store._sequence = itertools.count(int(first.id.rsplit("-", 1)[1]))
    again = await _reserve(store)
    assert again.id == first.id
    assert await store.read([RATE, SPEND], NOW) == {RATE: 1, SPEND: Decimal("12.50")}
