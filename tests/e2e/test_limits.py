"""What a limited call is told, and spend counters that add up exactly, on every backend.

Through real `callgate run` processes: a rate-limited denial says when to retry, in its
text and in `_meta`; a spend counter fed 0.1 thirty times holds exactly 3.0 and refuses
negative or non-numeric amounts. With an injected clock (the gate in-process, the real
policy engine, the real stores): the retry time given is exactly when capacity returns.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.proxy.audit import NullAuditSink
from callgate.proxy.gate import Gate
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import encode
from callgate.proxy.reload import PolicyWatcher
from callgate.state.counters import CounterKey, Scope, Window, WindowKind
from callgate.state.url import open_store
from tests.e2e.conftest import state_url_for
from tests.e2e.support import UPSTREAM, Setup, decision_meta, text_of, verdict
from tests.fixtures.servers.commands import stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

RATE = """\
version: "1"
tools:
  work:
    rules:
      - name: two-a-minute
        rate_limit: {max: 2, window: 60}
"""

SPEND = """\
version: "1"
tools:
  spend:
    rules:
      - name: budget
        conditions:
          - {path: state.spend.spent, op: lte, value: 3}
        state:
          counter: spent
          window: day
          increment_from: args.amount
"""

SPENT_KEY = CounterKey(
    "tests.e2e.upstream",
    Scope.GLOBAL,
    "*",
    "spend.spent",
    Window(WindowKind.CALENDAR, 86_400),
)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return state_url_for(request.param, request, tmp_path)


def _stdio(setup: Setup, state: str) -> Any:
    command = setup.run_command(state, setup.directory / "audit.jsonl")
    return stdio_params([*command, "--", *UPSTREAM, "stdio"], setup.environment())


async def test_a_rate_limited_call_says_when_to_retry(tmp_path: Path) -> None:
    setup = Setup(tmp_path, RATE)
    with anyio.fail_after(60):
        async with Client(_stdio(setup, "memory://"), mode="legacy") as client:
            results = [await client.call_tool("work", {"n": n}) for n in range(3)]

    assert [verdict(result) for result in results] == ["allow", "allow", "rate_limited"]
    meta = decision_meta(results[2])
    retry_after = meta["retry_after"]
    assert 0 < retry_after <= 60
    text = text_of(results[2])
    found = re.search(r"retry in (\d+\.\d) s", text)
    assert found is not None, text
    assert found.group(1) == f"{retry_after:.1f}"
    assert text.startswith('[callgate] denied by rule "two-a-minute": ')


async def test_spend_sums_are_exact_and_bad_amounts_are_refused(
    tmp_path: Path, state_url: str
) -> None:
    setup = Setup(tmp_path, SPEND)
    with anyio.fail_after(90):
        async with Client(_stdio(setup, state_url), mode="legacy") as client:
            tenths = [verdict(await client.call_tool("spend", {"amount": 0.1})) for _ in range(31)]
            negative = await client.call_tool("spend", {"amount": -1})
            words = await client.call_tool("spend", {"amount": "a lot"})
            missing = await client.call_tool("spend", {})
            # Had the refused amounts been counted, 3.0 - 1 would leave room for this.
            more = await client.call_tool("spend", {"amount": 0.1})
            nothing = await client.call_tool("spend", {"amount": 0})

    assert tenths == ["allow"] * 30 + ["deny"]  # 0.1 x 30 == 3.0 exactly, not 3.0000000000000004
    reasons = [decision_meta(result)["reason"] for result in (negative, words, missing)]
    assert "negative" in reasons[0]
    assert "must be a number" in reasons[1]
    assert "does not have" in reasons[2]
    assert verdict(more) == "deny"
    assert verdict(nothing) == "allow"
    if state_url != "memory://":  # the stored sum itself, read back from the store
        store = open_store(state_url)
        try:
            value = (await store.read([SPENT_KEY], time.time()))[SPENT_KEY]
        finally:
            await store.aclose()
        assert value == Decimal("3.0")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _judged(gate: Gate, peer: Peer, request_id: int) -> Reply | None:
    """Send one `work` call through the gate; answer it as the server would when forwarded."""
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "work"}}
    verdict = await gate.on_client_message(Message(body, encode(body)), peer)
    if isinstance(verdict, Reply):
        return verdict
    assert isinstance(verdict, Forward)
    answer = {"jsonrpc": "2.0", "id": request_id, "result": {"content": []}}
    await gate.on_server_message(Message(answer, encode(answer)), peer)
    return None


@asynccontextmanager
async def _gate(tmp_path: Path, state_url: str, clock: Clock) -> AsyncIterator[Gate]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(RATE)
    watcher: PolicyWatcher[CompiledPolicy] = PolicyWatcher(policy, load_compiled_policy)
    store = open_store(state_url)
    try:
        yield Gate(policy=watcher, store=store, audit=NullAuditSink(), clock=clock)
    finally:
        await store.aclose()


async def test_capacity_returns_exactly_when_the_denial_said(
    tmp_path: Path, state_url: str
) -> None:
    clock = Clock(1_800_000_000.0)
    peer = Peer(server="srv", session="s1")
    with anyio.fail_after(30):
        async with _gate(tmp_path, state_url, clock) as gate:
            assert await _judged(gate, peer, 1) is None  # t = 0
            clock.now += 10
            assert await _judged(gate, peer, 2) is None  # t = 10
            clock.now += 10
            refused = await _judged(gate, peer, 3)  # t = 20: two in the last 60 s
            assert refused is not None
            meta = refused.body["result"]["_meta"]["callgate/decision"]
            assert meta["retry_after"] == 40.0  # the call at t = 0 leaves the window at 60
            assert "retry in 40.0 s" in refused.body["result"]["content"][0]["text"]
            clock.now += 39.9
            still = await _judged(gate, peer, 4)
            assert still is not None
            assert still.body["result"]["_meta"]["callgate/decision"]["retry_after"] == (
                pytest.approx(0.1)
            )
            clock.now = 1_800_000_060.0
            assert await _judged(gate, peer, 5) is None  # exactly when it said
            assert await _judged(gate, peer, 6) is not None  # t = 10 and t = 60 fill it again
