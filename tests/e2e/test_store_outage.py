"""Redis stopped under a running `callgate run --listen`: fail closed, then recover by itself.

The redis-server is the test's own (`private_redis_server`), stopped and started again on
the same port while callgate keeps running; nothing is restarted but Redis.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.e2e.support import (
    Setup,
    callgate_listening,
    connect,
    decision_meta,
    http_upstream,
    seen,
    text_of,
    verdict,
)
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
{fail_mode}
tools:
  work:
    rules:
      - name: fleet-wide
        rate_limit: {{max: 1000, window: hour, scope: global}}
"""

OPEN_NOTICE = "fail_mode: open"


async def test_calls_are_refused_while_redis_is_down_and_served_again_when_it_is_back(
    tmp_path: Path, private_redis_server: RedisServer
) -> None:
    setup = Setup(tmp_path, POLICY.format(fail_mode=""))
    with anyio.fail_after(120):
        async with (
            http_upstream() as upstream,
            callgate_listening(setup, private_redis_server.url(), upstream) as gate,
            connect(gate.url) as client,
        ):
            before = await client.call_tool("work", {"n": 1})
            await anyio.to_thread.run_sync(private_redis_server.stop)
            during = [await client.call_tool("work", {"n": n}) for n in (2, 3)]
            ran_during = await seen(upstream)
            await anyio.to_thread.run_sync(private_redis_server.start)
            after = await client.call_tool("work", {"n": 4})
            ran_after = await seen(upstream)

    assert text_of(before) == "worked 1"
    assert [verdict(result) for result in during] == ["deny", "deny"]
    meta = decision_meta(during[0])
    assert meta["rule"] == "fail_mode"
    assert "limit store unavailable" in meta["reason"]
    assert "limit store unavailable" in text_of(during[0])
    assert ran_during["work"] == 1  # nothing reached the upstream while Redis was down
    assert text_of(after) == "worked 4"  # the same callgate process serves again
    assert ran_after["work"] == 2
    refused = [r for r in gate.audit() if r["rule"] == "fail_mode"]
    assert [r["decision"] for r in refused] == ["deny", "deny"]
    assert all("limit store unavailable" in r["reason"] for r in refused)
    assert OPEN_NOTICE not in gate.stderr.text


async def test_fail_mode_open_lets_calls_through_and_says_so_at_start_up(
    tmp_path: Path, private_redis_server: RedisServer
) -> None:
    setup = Setup(tmp_path, POLICY.format(fail_mode="fail_mode: open"))
    with anyio.fail_after(120):
        async with (
            http_upstream() as upstream,
            callgate_listening(setup, private_redis_server.url(), upstream) as gate,
            connect(gate.url) as client,
        ):
            notice = (await gate.stderr.wait_for(OPEN_NOTICE)).string
            await anyio.to_thread.run_sync(private_redis_server.stop)
            during = await client.call_tool("work", {"n": 1})
            ran = await seen(upstream)

    assert "allowed without their rate limits and counters" in notice
    assert text_of(during) == "worked 1"
    assert ran["work"] == 1
    assert [r["decision"] for r in gate.audit() if r["method"] == "tools/call"] == ["allow"]
