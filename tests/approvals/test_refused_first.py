"""No person is asked about a call that can never run (issue 12).

The official SDK client -> a real `callgate run` -> the SDK fixture server. Each call below
is under a `require_approval` rule and is also refused by a cheap, certain check (hidden,
a deny rule, invalid arguments, a rate limit, a spend cap): the refusal comes back at once
and `callgate approvals list --all` (a separate process on the proxy's store) shows no
request. Retry mode answers a call that needs approval at once, so a gate that asked
first would show the request instead of hanging.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from callgate.state.counters import CounterKey, Scope, Window, WindowKind
from callgate.state.url import open_store
from tests.approvals.proxied import Setup, next_pending, operator, text_of
from tests.fixtures.redis import RedisServer
from tests.fixtures.servers.commands import stdio_params
from tests.fixtures.servers.raw_session import RawSession

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
default: allow
hide: [secret_tool]
approvals:
  mode: {mode}
  timeout: 120
tools:
  secret_tool:
    rules:
      - name: ask-first
        action: require_approval
  add:
    rules:
      - name: ask-first
        action: require_approval
      - name: small-numbers
        conditions:
          - {{path: args.a, op: lte, value: 10}}
        on_deny: "only small numbers"
  echo:
    rules:
      - name: ask-about-shouting
        action: require_approval
        conditions:
          - {{path: args.text, op: eq, value: SHOUT}}
      - name: one-a-minute
        rate_limit: {{max: 1, window: minute}}
  charge:
    validate_arguments: true
    rules:
      - name: big-charges-need-a-human
        action: require_approval
        conditions:
          - {{path: args.amount, op: gt, value: 100}}
      - name: spend-cap
        conditions:
          - {{path: state.charge.spent, op: lte, value: 1000}}
        on_deny: "the day's spend cap is reached"
        state: {{counter: spent, window: day, increment_from: args.amount}}
"""


async def approvals_in_store(setup: Setup) -> list[dict[str, Any]]:
    """Every approval request the proxy's store holds, as `callgate approvals list` shows."""
    listed: list[dict[str, Any]] = json.loads(await operator(setup, "list", "--all", "--json"))
    return listed


def verdict_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error and result.meta is not None
    decision: dict[str, Any] = result.meta["callgate/decision"]
    return decision


async def calls(setup: Setup, *made: tuple[str, dict[str, Any]]) -> list[CallToolResult]:
    """Make the calls in order through one proxy (a client without prompts)."""
    results: list[CallToolResult] = []
    with anyio.fail_after(60):
        async with Client(stdio_params(setup.command(), setup.env), mode="legacy") as client:
            await client.list_tools()  # validate_arguments needs the listed schemas
            for tool, arguments in made:
                results.append(await client.call_tool(tool, arguments))
    return results


async def test_a_hidden_tool_is_refused_without_asking(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "retry", policy=POLICY)
    [result] = await calls(setup, ("secret_tool", {}))
    assert (verdict_of(result)["verdict"], verdict_of(result)["rule"]) == ("hidden", "hide")
    assert await approvals_in_store(setup) == []


async def test_a_call_a_rule_denies_is_refused_without_asking(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "retry", policy=POLICY)
    [result] = await calls(setup, ("add", {"a": 99, "b": 1}))
    assert verdict_of(result)["rule"] == "small-numbers"
    assert text_of(result).endswith("only small numbers")
    assert await approvals_in_store(setup) == []


async def test_invalid_arguments_are_refused_without_asking(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "retry", policy=POLICY)
    # 500 needs approval; the schema wants a string currency.
    [result] = await calls(setup, ("charge", {"amount": 500, "currency": 7}))
    assert verdict_of(result)["verdict"] == "deny"
    assert "currency" in text_of(result)
    assert await approvals_in_store(setup) == []


async def test_a_rate_limited_call_is_refused_without_asking(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "retry", policy=POLICY)
    first, shout = await calls(setup, ("echo", {"text": "hi"}), ("echo", {"text": "SHOUT"}))
    assert text_of(first) == "hi"
    assert verdict_of(shout)["verdict"] == "rate_limited"
    assert await approvals_in_store(setup) == []


async def test_a_call_over_the_spend_cap_of_a_waiting_call_is_refused_without_asking(
    tmp_path: Path,
) -> None:
    """The waiting call holds its amount: the next is refused by the cap, not asked about;
    once the first is denied its amount is given back and the same call is asked about."""
    setup = Setup(tmp_path, "wait", policy=POLICY)
    results: dict[str, CallToolResult] = {}
    with anyio.fail_after(60):
        async with (
            Client(stdio_params(setup.command(), setup.env), mode="legacy") as client,
            anyio.create_task_group() as group,
        ):
            await client.list_tools()

            async def call(name: str, amount: int) -> None:
                results[name] = await client.call_tool("charge", {"amount": amount})

            group.start_soon(call, "waiting", 800)
            waiting = await next_pending(setup)
            # 800 is held while a person decides: 300 more would pass the cap of 1000.
            group.start_soon(call, "over", 300)
            while "over" not in results and len(await approvals_in_store(setup)) < 2:
                await anyio.sleep(0.02)
            assert [a["id"] for a in await approvals_in_store(setup)] == [waiting.id]
            assert verdict_of(results["over"])["rule"] == "spend-cap"

            await operator(setup, "deny", waiting.id, "--reason", "too much")
            group.start_soon(call, "asked", 300)  # 800 given back: now it can run
            asked = await _second_pending(setup, waiting.id)
            await operator(setup, "approve", asked)

    assert "too much" in text_of(results["waiting"])
    assert text_of(results["asked"]) == "charged 300.0 EUR"


async def _second_pending(setup: Setup, first: str) -> str:
    """The id of the pending request other than `first`, once there is one."""
    while True:
        pending: list[str] = [
            a["id"]
            for a in await approvals_in_store(setup)
            if a["id"] != first and a["status"] == "requested"
        ]
        if pending:
            return pending[0]
        await anyio.sleep(0.02)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_a_call_waiting_when_the_client_leaves_gives_its_amount_back(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """stdin closes (no cancellation) while a call waits: its held amount is rolled back
    before callgate closes the store."""
    state_url = None
    if backend == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        redis.flush()
        state_url = redis.url()
    setup = Setup(tmp_path, "wait", state_url=state_url, policy=POLICY)
    session = await RawSession.start(setup.command(), setup.env)
    with anyio.fail_after(60):
        await session.initialize()
        await session.call("list", "tools/list", {})
        charge = {"name": "charge", "arguments": {"amount": 800}}
        await session.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": charge})
        while not await approvals_in_store(setup):
            await anyio.sleep(0.02)
        assert await spent_today(setup) == 800  # held while a person decides
        assert await session.finish() == 0
    assert await spent_today(setup) == 0


async def spent_today(setup: Setup) -> Decimal:
    """The day's `charge.spent` counter in the proxy's store."""
    key = CounterKey(
        "tests.fixtures.servers.sdk_server",
        Scope.GLOBAL,
        "*",
        "charge.spent",
        Window(WindowKind.CALENDAR, 86_400),
    )
    store = open_store(setup.state_url)
    try:
        return (await store.read([key], time.time()))[key]
    finally:
        await store.aclose()
