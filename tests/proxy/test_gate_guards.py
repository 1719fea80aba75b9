"""The gate judges counters from the values it last saw; the store checks the guards.

Two gates stand for two callgate instances (each with its own cache) on one real
redis-server, with the real policy engine. Redis round trips are counted twice over:
`INFO commandstats` (EVALSHA calls) and MONITOR (every command a client sent, so nothing
else slips in); commands a script runs inside Redis are no round trip and are not counted.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
import redis.asyncio

from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.policy.decision import Decision, ToolCall, Verdict
from callgate.proxy.audit import NullAuditSink
from callgate.proxy.gate import Gate
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import encode
from callgate.proxy.reload import PolicyWatcher
from callgate.state.counters import CounterKey, Scope, Window, WindowKind
from callgate.state.memory import MemoryStore
from callgate.state.redis import RedisStore
from callgate.state.sqlite import SqliteStore
from callgate.state.store import CounterStore
from tests.fixtures.redis import RedisServer
from tests.proxy.test_gate import SPEND_POLICY

pytestmark = pytest.mark.anyio

NOW = 1_790_000_000.0
PEER = Peer(server="stripe", session="s1")
SPENT = CounterKey("stripe", Scope.GLOBAL, "*", "pay.spent", Window(WindowKind.CALENDAR, 86_400))

SPEND_CAP = SPEND_POLICY.replace("100", "50")
"""`pay` under a spend cap of 50 (`lte` on its own counter: checked after the charge)."""


@dataclass
class Instance:
    """One gate (one callgate instance) with its own store handle and request ids."""

    gate: Gate
    next_id: int = 0
    in_flight: list[int] = field(default_factory=list)

    async def pay(self, amount: Any, *, settle: bool = True) -> dict[str, Any] | None:
        """Send `pay`; the denial's decision details, or None when it was forwarded."""
        self.next_id += 1
        request_id = self.next_id
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "pay", "arguments": {"amount": amount}},
        }
        answer = await self.gate.on_client_message(Message(body, encode(body)), PEER)
        if isinstance(answer, Reply):
            details: dict[str, Any] = answer.body["result"]["_meta"]["callgate/decision"]
            return details
        assert isinstance(answer, Forward)
        if settle:
            await self.answer(request_id)
        else:
            self.in_flight.append(request_id)
        return None

    async def answer(self, request_id: int, *, failed: bool = False) -> None:
        """The upstream's answer: success commits the call's charges, failure rolls back."""
        result = {"content": [], "isError": failed}
        body = {"jsonrpc": "2.0", "id": request_id, "result": result}
        await self.gate.on_server_message(Message(body, encode(body)), PEER)


def _gate(tmp_path: Path, store: CounterStore, policy: str = SPEND_CAP) -> Instance:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    watcher: PolicyWatcher[CompiledPolicy] = PolicyWatcher(path, load_compiled_policy)
    return Instance(Gate(policy=watcher, store=store, audit=NullAuditSink(), clock=lambda: NOW))


@pytest.fixture
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    redis_server.flush()
    yield redis_server
    redis_server.flush()


@pytest.fixture
async def fleet(tmp_path: Path, server: RedisServer) -> AsyncIterator[tuple[Instance, Instance]]:
    """Two instances, each with its own Redis connection pool, on one Redis."""
    stores = [RedisStore(server.url()), RedisStore(server.url())]
    yield _gate(tmp_path, stores[0]), _gate(tmp_path, stores[1])
    for store in stores:
        await store.aclose()


@dataclass
class Sent:
    """What clients sent Redis while watched: command names, in order."""

    commands: list[str] = field(default_factory=list)
    evalsha_calls: int = 0


@asynccontextmanager
async def watching(server: RedisServer) -> AsyncIterator[Sent]:
    """Record every command a client (not a script) sends while the block runs."""
    sent = Sent()
    inspector = redis.Redis(host=server.host, port=server.port)
    monitor_client = redis.asyncio.Redis(host=server.host, port=server.port)
    try:
        before = _evalsha_calls(inspector)
        async with monitor_client.monitor() as monitor:
            yield sent
            inspector.echo("end-of-watch")
            with anyio.fail_after(10):
                while True:
                    command = await monitor.next_command()
                    text = command["command"]
                    if "end-of-watch" in text:
                        break
                    if command["client_type"] != "lua":
                        sent.commands.append(text.split()[0].upper())
        sent.evalsha_calls = _evalsha_calls(inspector) - before
    finally:
        inspector.close()
        await monitor_client.aclose()


def _evalsha_calls(client: redis.Redis) -> int:
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return stats.get("cmdstat_evalsha", {}).get("calls", 0)


async def _spent(server: RedisServer) -> Decimal:
    store = RedisStore(server.url())
    try:
        return (await store.read([SPENT], NOW))[SPENT]
    finally:
        await store.aclose()


@pytest.mark.redis
async def test_a_spend_capped_call_costs_one_round_trip_to_decide_while_another_instance_charges(
    fleet: tuple[Instance, Instance], server: RedisServer
) -> None:
    first, second = fleet
    for instance in fleet:
        await instance.pay(1)  # connects, loads the scripts
    decisions = 20
    async with watching(server) as sent:
        for index in range(decisions):
            instance = first if index % 2 else second
            assert await instance.pay(1, settle=False) is None
    # One EVALSHA per decision (guards and charges in one script call), nothing else.
    assert sent.commands == ["EVALSHA"] * decisions
    assert sent.evalsha_calls == decisions
    for instance in fleet:
        for request_id in instance.in_flight:
            await instance.answer(request_id)
    assert await _spent(server) == 2 + decisions


@pytest.mark.redis
async def test_a_cap_crossed_by_another_instance_is_denied_from_the_fresh_values(
    fleet: tuple[Instance, Instance], server: RedisServer
) -> None:
    first, second = fleet
    assert await first.pay(1) is None  # the first instance has seen 1
    assert await second.pay(49) is None  # 50: the cap is reached elsewhere
    async with watching(server) as crossing:
        refused = await first.pay(1)
    assert refused is not None
    assert (refused["verdict"], refused["reason"]) == ("deny", "spend cap of 50 reached")
    # The reservation found the guard broken and returned the fresh value: no read, and a
    # denial judged from values the store just returned needs no confirmation.
    assert crossing.commands == ["EVALSHA"]
    assert crossing.evalsha_calls == 1
    async with watching(server) as steady:
        again = await first.pay(1)
    assert again is not None and again["verdict"] == "deny"
    assert steady.commands == ["EVALSHA"]  # the denial, confirmed before it is given
    assert steady.evalsha_calls == 1
    assert await _spent(server) == 50


@pytest.mark.redis
async def test_a_remembered_denial_that_no_longer_holds_costs_two_round_trips(
    fleet: tuple[Instance, Instance], server: RedisServer
) -> None:
    first, second = fleet
    assert await second.pay(30, settle=False) is None  # in flight on the other instance
    assert await first.pay(20) is None  # 50
    assert await first.pay(1) is not None  # the first instance has seen 50
    await second.answer(second.in_flight.pop(), failed=True)  # rolled back: 20
    async with watching(server) as sent:
        assert await first.pay(1, settle=False) is None
    # The remembered denial is confirmed and refused (with the fresh 20), then the allow
    # judged from 20 reserves: the one case that takes two.
    assert sent.commands == ["EVALSHA", "EVALSHA"]
    assert sent.evalsha_calls == 2


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def shared_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[CounterStore, CounterStore]]:
    """Two handles on one store (for memory: the same instance twice)."""
    if request.param == "memory":
        memory = MemoryStore()
        yield memory, memory
        return
    handles: list[CounterStore]
    if request.param == "sqlite":
        handles = [SqliteStore(tmp_path / "state.db"), SqliteStore(tmp_path / "state.db")]
    else:
        server: RedisServer = request.getfixturevalue("server")
        handles = [RedisStore(server.url()), RedisStore(server.url())]
    yield handles[0], handles[1]
    for handle in handles:
        await handle.aclose()


async def test_a_denial_is_never_given_on_a_cached_value_that_has_dropped(
    tmp_path: Path, shared_store: tuple[CounterStore, CounterStore]
) -> None:
    first = _gate(tmp_path, shared_store[0])
    second = _gate(tmp_path, shared_store[1])
    assert await second.pay(30, settle=False) is None  # in flight on the other instance
    assert await first.pay(20) is None  # 50
    refused = await first.pay(1)
    assert refused is not None and refused["verdict"] == "deny"  # the first has seen 50
    await second.answer(second.in_flight.pop(), failed=True)  # rolled back: 20
    assert await first.pay(1) is None  # the cached 50 was re-checked, not trusted
    assert await first.pay(29) is None  # 50 again
    assert await first.pay(1) is not None


async def test_an_allow_without_charges_is_confirmed_before_the_call_goes_on(
    tmp_path: Path, shared_store: tuple[CounterStore, CounterStore]
) -> None:
    policy = SPEND_CAP + (
        "  refund:\n"
        "    rules:\n"
        "      - name: refunds only after spending\n"
        "        conditions: [{path: state.pay.spent, op: gte, value: 10}]\n"
    )
    first = _gate(tmp_path, shared_store[0], policy)
    second = _gate(tmp_path, shared_store[1], policy)

    async def refund(instance: Instance) -> str:
        instance.next_id += 1
        body = {"jsonrpc": "2.0", "id": instance.next_id, "method": "tools/call",
                "params": {"name": "refund", "arguments": {}}}  # fmt: skip
        answer = await instance.gate.on_client_message(Message(body, encode(body)), PEER)
        if isinstance(answer, Forward):
            return "allow"
        return str(answer.body["result"]["_meta"]["callgate/decision"]["verdict"])

    assert await refund(first) == "deny"  # nothing spent yet
    assert await second.pay(10) is None  # spent elsewhere; the first still remembers 0
    assert await refund(first) == "allow"
    assert await first.pay(40) is None
    assert await refund(first) == "allow"


async def test_concurrent_spend_across_two_instances_never_exceeds_the_cap(
    tmp_path: Path, shared_store: tuple[CounterStore, CounterStore]
) -> None:
    instances = [_gate(tmp_path, shared_store[0]), _gate(tmp_path, shared_store[1])]
    outcomes: list[str] = []

    async def pay(index: int) -> None:
        refused = await instances[index % 2].pay(1)
        outcomes.append("allow" if refused is None else str(refused["reason"]))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for index in range(120):
                group.start_soon(pay, index)
    assert outcomes.count("allow") == 50
    assert set(outcomes) <= {"allow", "spend cap of 50 reached"}


async def test_a_decision_that_cannot_be_confirmed_fails_closed(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    store = RedisStore(f"redis://127.0.0.1:{port}/0", connect_timeout=0.5, socket_timeout=0.5)
    # Judged from a value never seen (0), the call is denied by the rule (spent < 10); that
    # denial must be confirmed first, and with the store down the gate fails closed.
    policy = SPEND_CAP.replace("op: lte, value: 50", "op: gte, value: 10").replace(
        "spend cap of 50 reached", "spend at least 10 first"
    )
    instance = _gate(tmp_path, store, policy)
    try:
        refused = await instance.pay(1)
    finally:
        await store.aclose()
    assert refused is not None
    assert (refused["verdict"], refused["rule"]) == ("deny", "fail_mode")
    assert "limit store unavailable" in refused["reason"]


@dataclass
class ApprovingPerson:
    """An approver that says yes to everything and remembers what it was asked."""

    asked: list[str] = field(default_factory=list)

    async def resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        self.asked.append(decision.rule or "")
        return replace(decision, verdict=Verdict.ALLOW, reason="approved")


BIG_SPENDERS_ASK = """\
version: "1"
tools:
  pay:
    rules:
      - name: ask big spenders
        action: require_approval
        conditions: [{path: state.pay.spent, op: gt, value: 100}]
      - name: count
        conditions: [{path: args.amount, op: gte, value: 0}]
        state: {counter: spent, window: day, increment_from: args.amount}
"""


async def test_a_person_is_asked_only_when_the_stores_value_calls_for_it(
    tmp_path: Path, shared_store: tuple[CounterStore, CounterStore]
) -> None:
    person = ApprovingPerson()
    first = _gate(tmp_path, shared_store[0], BIG_SPENDERS_ASK)
    first.gate.approvals = person
    second = _gate(tmp_path, shared_store[1], BIG_SPENDERS_ASK)
    assert await second.pay(200, settle=False) is None  # in flight on the other instance
    # Judged from 0 (never seen): no approval; the reservation finds 200 and returns it;
    # judged again, the call needs approval, asked and granted, then reserved.
    assert await first.pay(1) is None
    assert person.asked == ["ask big spenders"]
    await second.answer(second.in_flight.pop(), failed=True)  # rolled back: 1
    # Judged from 201 (remembered), the call would need approval: confirmed first, the
    # store says 1, so nobody is bothered.
    assert await first.pay(1) is None
    assert person.asked == ["ask big spenders"]


async def test_a_cap_reached_yesterday_is_confirmed_and_lifted_at_midnight(
    tmp_path: Path, shared_store: tuple[CounterStore, CounterStore]
) -> None:
    instance = _gate(tmp_path, shared_store[0])
    now = [NOW]
    instance.gate.clock = lambda: now[0]
    assert await instance.pay(50) is None
    refused = await instance.pay(1)
    assert refused is not None and refused["verdict"] == "deny"  # 50 remembered
    now[0] = (NOW // 86_400 + 1) * 86_400  # midnight UTC: a new day's bucket, at 0
    assert await instance.pay(1) is None
