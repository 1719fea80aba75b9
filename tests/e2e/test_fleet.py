"""A fleet on Redis: several `callgate run --listen` processes enforce one limit together.

Real parts only: a real redis-server, real callgate processes, one real upstream over
Streamable HTTP, official SDK clients speaking both protocol generations.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import pytest
import redis

from tests.e2e.conftest import state_url_for
from tests.e2e.fleet import run_fleet
from tests.e2e.support import (
    Setup,
    callgate_listening,
    connect,
    decision_meta,
    http_upstream,
    seen,
    verdict,
)
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

GLOBAL_LIMIT = """\
version: "1"
tools:
  work:
    rules:
      - name: fleet-wide
        rate_limit: {max: 50, window: hour, scope: global}
"""

CALLS = 200


@pytest.fixture(params=["redis", "sqlite"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store for every instance: a Redis database, or one SQLite file (WAL)."""
    return state_url_for(request.param, request, tmp_path)


async def test_a_global_limit_of_50_holds_exactly_across_two_instances(
    tmp_path: Path, shared_state: str
) -> None:
    setup = Setup(tmp_path, GLOBAL_LIMIT)
    state = shared_state
    run = await run_fleet(setup, state, "work", {"n": 1}, CALLS)
    results = run.results
    upstream_saw = run.upstream_saw
    verdicts = Counter(verdict(result) for result in results)
    limited_reasons = [
        decision_meta(result)["reason"] for result in results if verdict(result) == "rate_limited"
    ]
    assert verdicts == {"allow": 50, "rate_limited": 150}
    assert upstream_saw["work"] == 50
    assert all("at most 50 calls per 3600 s" in reason for reason in limited_reasons)
    # Both instances decided some of the calls, and every decision was audited.
    audited = run.audits
    assert all(records for records in audited)
    decisions = Counter(record["decision"] for records in audited for record in records)
    assert decisions == {"allow": 50, "rate_limited": 150}
    if state.startswith("redis://"):  # idle keys go away by themselves
        with redis.Redis.from_url(state, decode_responses=True) as store:
            keys = store.keys("callgate:*")
            ttls = [store.ttl(key) for key in keys]
        assert keys
        assert all(0 < ttl <= 3600 + 60 for ttl in ttls), dict(zip(keys, ttls, strict=True))


async def test_two_servers_behind_two_instances_never_share_a_counter(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.flush()
    setup = Setup(tmp_path, GLOBAL_LIMIT.replace("max: 50", "max: 3"))
    state = redis_server.url()
    with anyio.fail_after(120):
        async with (
            http_upstream() as left,
            http_upstream() as right,
            callgate_listening(setup, state, left, name="left") as left_gate,
            callgate_listening(setup, state, right, name="right") as right_gate,
        ):
            outcomes: dict[str, list[str]] = {}
            for gate in (left_gate, right_gate):
                async with connect(gate.url) as client:
                    outcomes[gate.url] = [
                        verdict(await client.call_tool("work", {"n": n})) for n in range(4)
                    ]
            ran = [await seen(left), await seen(right)]

    expected = ["allow", "allow", "allow", "rate_limited"]
    assert list(outcomes.values()) == [expected, expected]
    assert [counts["work"] for counts in ran] == [3, 3]
    with redis.Redis.from_url(state, decode_responses=True) as client:
        keys: list[str] = client.keys("callgate:*rate:work/fleet-wide*")
    servers = {key.removeprefix("callgate:").split("|")[0] for key in keys}
    assert servers == {left.split("/")[2], right.split("/")[2]}  # host:port of each upstream


SESSION_LIMIT = """\
version: "1"
tools:
  work:
    rules:
      - name: per-session
        rate_limit: {max: 3, window: hour}
"""


async def test_a_stateless_session_is_one_session_across_the_fleet(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """On 2026-07-28 a session is the agent plus its `Callgate-Session` key, whichever
    instance serves the request: its limit holds across the fleet."""
    redis_server.flush()
    setup = Setup(tmp_path, SESSION_LIMIT)
    state = redis_server.url()
    with anyio.fail_after(120):
        async with (
            http_upstream() as upstream,
            callgate_listening(setup, state, upstream, name="a") as first,
            callgate_listening(setup, state, upstream, name="b") as second,
        ):
            outcomes = []
            for key in ("job-7", "job-8"):
                for gate in (first, second, first, second):
                    async with connect(gate.url, session_key=key, mode="auto") as client:
                        outcomes.append(verdict(await client.call_tool("work", {"n": 1})))

    per_job = ["allow", "allow", "allow", "rate_limited"]
    assert outcomes == per_job + per_job
