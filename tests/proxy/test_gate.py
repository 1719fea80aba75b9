"""The gate over a real memory store and a real audit file, judged by a small table policy.

The end-to-end tests (tests/cli/test_run*.py) use the real policy engine; here a table
judge pins decisions so each gate phase can be checked on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from callgate.audit import JsonlAuditSink, read_records
from callgate.policy.compiler import load_compiled_policy
from callgate.policy.decision import Decision, Facts, ToolCall, Verdict
from callgate.proxy.gate import Gate, Judge
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import encode
from callgate.proxy.reload import PolicyWatcher
from callgate.state.counters import Charge, CounterKey, Scope, Window, WindowKind
from callgate.state.memory import MemoryStore
from callgate.state.sqlite import SqliteStore
from callgate.state.store import CounterStore

pytestmark = pytest.mark.anyio

PEER = Peer(server="srv", session="s1")
RATE_KEY = CounterKey(
    "srv", Scope.SESSION, "s1", "rate:two-per-minute", Window(WindowKind.SLIDING, 60)
)


@dataclass
class TableJudge:
    """Decides by tool name; `limited` gets a 2-per-minute rate-limit charge."""

    hidden: frozenset[str] = frozenset({"secret"})
    fail_open: bool = False
    uses_flags: bool = False
    annotate_tools: bool = False
    guards_results: bool = False
    seen_counters: list[Mapping[str, Decimal]] = field(default_factory=list)

    def is_hidden(self, tool: str) -> bool:
        return tool in self.hidden

    def counter_keys(self, call: ToolCall, facts: Facts) -> Mapping[str, CounterKey]:
        return {"rate": RATE_KEY} if call.tool == "limited" else {}

    def rate_limit_reason(self, charge: Charge) -> str:
        return f"no more than {charge.limit} a minute."

    def result_rules(self, tool: str, category: str | None, flags: tuple[str, ...]) -> None:
        return None

    def evaluate(self, call: ToolCall, facts: Facts) -> Decision:
        self.seen_counters.append(facts.counters)
        if call.tool == "forbidden":
            return Decision(Verdict.DENY, rule="no-forbidden", reason="never allowed")
        if call.tool == "risky":
            return Decision(Verdict.APPROVAL_REQUIRED, rule="ask-first", reason="risky tool")
        if call.tool == "limited":
            charge = Charge(RATE_KEY, Decimal(1), "two-per-minute", limit=2)
            return Decision(Verdict.ALLOW, rule="two-per-minute", charges=(charge,))
        if call.tool == "checked":
            return Decision(Verdict.ALLOW, validate_arguments=True)
        return Decision(Verdict.ALLOW)


@dataclass
class FixedSource:
    judge: TableJudge

    def current(self) -> Judge:
        return self.judge


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _call(request_id: int, tool: Any, arguments: Any = None, meta: Any = None) -> Message:
    params: dict[str, Any] = {"name": tool}
    if arguments is not None:
        params["arguments"] = arguments
    if meta is not None:
        params["_meta"] = meta
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return Message(body, encode(body))


def _ok(request_id: int, is_error: bool = False) -> Message:
    body = {"jsonrpc": "2.0", "id": request_id, "result": {"content": [], "isError": is_error}}
    return Message(body, encode(body))


def _make(tmp_path: Path, judge: TableJudge | None = None) -> tuple[Gate, MemoryStore, Clock]:
    store = MemoryStore()
    clock = Clock()
    gate = Gate(
        policy=FixedSource(judge or TableJudge()),
        store=store,
        audit=JsonlAuditSink(tmp_path / "audit", key=b"k" * 32),
        clock=clock,
        monotonic=clock,
    )
    return gate, store, clock


async def _rate_value(store: MemoryStore, now: float) -> Decimal:
    return (await store.read([RATE_KEY], now))[RATE_KEY]


async def _audit_lines(gate: Gate, tmp_path: Path) -> list[dict[str, Any]]:
    await gate.audit.aclose()
    return read_records(tmp_path / "audit")


async def test_non_string_name_is_a_json_rpc_error(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    answer = await gate.on_client_message(_call(1, 42), PEER)
    assert isinstance(answer, Reply)
    assert answer.body["error"]["code"] == -32602
    assert gate.in_flight == 0


async def test_non_object_arguments_are_a_json_rpc_error(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    answer = await gate.on_client_message(_call(1, "echo", ["a"]), PEER)
    assert isinstance(answer, Reply)
    assert answer.body["error"]["code"] == -32602


async def test_denial_is_a_tool_result_the_model_can_read(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    answer = await gate.on_client_message(_call(3, "forbidden", {"a": 1}), PEER)
    assert isinstance(answer, Reply)
    result = answer.body["result"]
    assert answer.body["id"] == 3
    assert result["isError"] is True
    assert result["content"][0]["text"] == '[callgate] denied by rule "no-forbidden": never allowed'
    assert result["_meta"]["callgate/decision"]["verdict"] == "deny"
    assert "resultType" not in result
    lines = await _audit_lines(gate, tmp_path)
    assert [(line["tool"], line["decision"], line["rule"]) for line in lines] == [
        ("forbidden", "deny", "no-forbidden")
    ]
    assert len(lines[0]["arguments_hmac"]) == 64


async def test_denial_on_the_modern_protocol_says_result_type_complete(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    answer = await gate.on_client_message(_call(3, "forbidden", {}, meta), PEER)
    assert isinstance(answer, Reply)
    assert answer.body["result"]["resultType"] == "complete"


async def test_hidden_tool_is_refused_and_removed_from_the_list(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    answer = await gate.on_client_message(_call(1, "secret", {}), PEER)
    assert isinstance(answer, Reply)
    assert answer.body["result"]["_meta"]["callgate/decision"]["verdict"] == "hidden"

    request = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    assert isinstance(
        await gate.on_client_message(Message(request, encode(request)), PEER), Forward
    )
    tools = [{"name": "echo", "inputSchema": {"type": "object"}}, {"name": "secret"}]
    listed = {"jsonrpc": "2.0", "id": 2, "result": {"tools": tools, "nextCursor": "c2"}}
    filtered = await gate.on_server_message(Message(listed, encode(listed)), PEER)
    assert filtered is not None
    assert filtered.raw == b""
    assert [tool["name"] for tool in filtered.body["result"]["tools"]] == ["echo"]
    assert filtered.body["result"]["nextCursor"] == "c2"


async def test_unfiltered_list_keeps_its_bytes(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    request = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    await gate.on_client_message(Message(request, encode(request)), PEER)
    listed = {"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "echo"}]}}
    message = Message(listed, encode(listed))
    assert await gate.on_server_message(message, PEER) is message


async def test_rate_limit_reserves_commits_and_refuses_the_third_call(tmp_path: Path) -> None:
    gate, store, clock = _make(tmp_path)
    for request_id in (1, 2):
        assert isinstance(
            await gate.on_client_message(_call(request_id, "limited", {}), PEER), Forward
        )
        await gate.on_server_message(_ok(request_id), PEER)
    assert await _rate_value(store, clock.now) == 2
    answer = await gate.on_client_message(_call(3, "limited", {}), PEER)
    assert isinstance(answer, Reply)
    details = answer.body["result"]["_meta"]["callgate/decision"]
    assert details["verdict"] == "rate_limited"
    assert details["rule"] == "two-per-minute"
    assert details["retry_after"] == pytest.approx(60.0)
    assert answer.body["result"]["content"][0]["text"] == (
        '[callgate] denied by rule "two-per-minute": no more than 2 a minute '
        "(at most 2 calls per 60 s; retry in 60.0 s)"
    )


@pytest.mark.parametrize(
    "answer",
    [
        _ok(1, is_error=True),
        Message({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "boom"}}),
        Message({"jsonrpc": "2.0", "id": 1, "result": {"resultType": "input_required"}}),
    ],
    ids=["is-error", "json-rpc-error", "input-required"],
)
async def test_failed_call_rolls_its_counter_back(tmp_path: Path, answer: Message) -> None:
    gate, store, clock = _make(tmp_path)
    await gate.on_client_message(_call(1, "limited", {}), PEER)
    assert await _rate_value(store, clock.now) == 1
    await gate.on_server_message(answer, PEER)
    assert await _rate_value(store, clock.now) == 0
    assert gate.in_flight == 0


async def test_cancellation_rolls_back(tmp_path: Path) -> None:
    gate, store, clock = _make(tmp_path)
    await gate.on_client_message(_call(1, "limited", {}), PEER)
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    assert isinstance(await gate.on_client_message(Message(cancel, encode(cancel)), PEER), Forward)
    assert await _rate_value(store, clock.now) == 0
    lines = await _audit_lines(gate, tmp_path)
    assert lines[-1]["outcome"] == "cancelled"


async def test_lost_upstream_rolls_back_only_that_session(tmp_path: Path) -> None:
    gate, store, clock = _make(tmp_path)
    other = Peer(server="srv", session="s2")
    await gate.on_client_message(_call(1, "limited", {}), PEER)
    await gate.on_client_message(_call(1, "echo", {}), other)
    await gate.on_upstream_lost(PEER)
    assert await _rate_value(store, clock.now) == 0
    assert gate.in_flight == 1


async def test_timed_out_call_is_rolled_back_on_the_next_call(tmp_path: Path) -> None:
    gate, store, clock = _make(tmp_path)
    await gate.on_client_message(_call(1, "limited", {}), PEER)
    clock.now += gate.call_timeout + 1
    await gate.on_client_message(_call(2, "echo", {}), PEER)
    assert await _rate_value(store, clock.now - 1) == 0
    lines = await _audit_lines(gate, tmp_path)
    assert lines[0]["outcome"] == "timeout"


async def test_approval_required_without_approver_fails_closed(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    answer = await gate.on_client_message(_call(1, "risky", {}), PEER)
    assert isinstance(answer, Reply)
    text = answer.body["result"]["content"][0]["text"]
    assert text.startswith('[callgate] denied by rule "ask-first": risky tool;')
    assert "no approver is configured" in text


async def test_validation_fails_closed_without_schema_then_checks_arguments(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    unknown = await gate.on_client_message(_call(1, "checked", {"n": 1}), PEER)
    assert isinstance(unknown, Reply)
    assert "no input schema is known" in unknown.body["result"]["content"][0]["text"]

    schema = {
        "type": "object",
        "$defs": {"count": {"type": "integer", "minimum": 0}},
        "properties": {"n": {"$ref": "#/$defs/count"}},
        "required": ["n"],
    }
    gate.catalog.learn("srv", [{"name": "checked", "inputSchema": schema}])
    bad = await gate.on_client_message(_call(2, "checked", {"n": -1}), PEER)
    assert isinstance(bad, Reply)
    assert "-1 is less than the minimum of 0" in bad.body["result"]["content"][0]["text"]
    assert isinstance(await gate.on_client_message(_call(3, "checked", {"n": 2}), PEER), Forward)


async def test_duplicate_in_flight_id_is_refused(tmp_path: Path) -> None:
    gate, _, _ = _make(tmp_path)
    assert isinstance(await gate.on_client_message(_call(1, "echo", {}), PEER), Forward)
    again = await gate.on_client_message(_call(1, "echo", {}), PEER)
    assert isinstance(again, Reply)
    assert "already in flight" in again.body["error"]["message"]


async def test_audit_records_latency_of_allowed_calls(tmp_path: Path) -> None:
    gate, _, clock = _make(tmp_path)
    await gate.on_client_message(_call(1, "echo", {"x": 1}), PEER)
    clock.now += 0.25
    answer = _ok(1)
    await gate.on_server_message(answer, PEER)
    lines = await _audit_lines(gate, tmp_path)
    assert lines == [
        {
            "seq": 1,
            "prev": lines[0]["prev"],
            "time": lines[0]["time"],
            "server": "srv",
            "session": "s1",
            "agent": "anonymous",
            "method": "tools/call",
            "tool": "echo",
            "decision": "allow",
            "rule": None,
            "reason": "",
            "arguments_hmac": lines[0]["arguments_hmac"],
            "arguments": {"x": 1},
            "redacted": [],
            "category": None,
            "flags": None,
            "latency_ms": 250.0,
            "outcome": "ok",
            "is_error": False,
            "result_bytes": len(answer.raw),  # the result itself is never written
        }
    ]
    assert len(lines[0]["arguments_hmac"]) == 64


async def test_many_concurrent_calls_respect_the_limit(tmp_path: Path) -> None:
    gate, store, clock = _make(tmp_path)
    answers: list[Forward | Reply] = []

    async def one(request_id: int) -> None:
        answers.append(await gate.on_client_message(_call(request_id, "limited", {}), PEER))

    async with anyio.create_task_group() as group:
        for request_id in range(10):
            group.start_soon(one, request_id)
    assert sum(isinstance(answer, Forward) for answer in answers) == 2
    assert await _rate_value(store, clock.now) == 2


async def test_full_in_flight_table_refuses_new_calls(tmp_path: Path) -> None:
    gate, store, clock = _make(tmp_path)
    gate.max_in_flight = 2
    assert isinstance(await gate.on_client_message(_call(1, "limited", {}), PEER), Forward)
    assert isinstance(await gate.on_client_message(_call(2, "echo", {}), PEER), Forward)
    refused = await gate.on_client_message(_call(3, "limited", {}), PEER)
    assert isinstance(refused, Reply)
    assert refused.body["error"]["message"] == "too many requests in flight"
    # The refused call's reservation was given back: only call 1 holds a slot.
    assert await _rate_value(store, clock.now) == 1


@dataclass
class WaitingApprovals:
    """An approver that holds every call until released (a person deciding slowly)."""

    asked: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)

    async def resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        self.asked.set()
        await self.release.wait()
        charge = Charge(RATE_KEY, Decimal(1), "two-per-minute", limit=2)
        return Decision(Verdict.ALLOW, rule=decision.rule, charges=(charge,))


async def test_a_call_cancelled_while_being_judged_is_never_forwarded(tmp_path: Path) -> None:
    gate, store, clock = _make(tmp_path)
    approvals = WaitingApprovals()
    gate.approvals = approvals
    answers: list[Forward | Reply] = []

    async def call_risky() -> None:
        answers.append(await gate.on_client_message(_call(9, "risky", {}), PEER))

    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(call_risky)
            await approvals.asked.wait()
            await gate.on_client_message(Message(cancel, encode(cancel)), PEER)
            approvals.release.set()
    (answer,) = answers
    assert isinstance(answer, Reply)
    assert answer.body["error"]["code"] == -32800
    assert await _rate_value(store, clock.now) == 0
    assert gate.in_flight == 0
    lines = await _audit_lines(gate, tmp_path)
    assert lines[-1]["outcome"] == "cancelled"


SPEND_POLICY = """\
version: "1"
tools:
  pay:
    rules:
      - name: spend-cap
        conditions:
          - {path: state.pay.spent, op: lte, value: 100}
        on_deny: "spend cap of 100 reached"
        state: {counter: spent, window: day, increment_from: args.amount}
"""


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_concurrent_spend_never_exceeds_the_cap(tmp_path: Path, backend: str) -> None:
    # With SQLite every store call runs in a worker thread, so the eight calls really
    # interleave: guards go stale and the gate re-reads and re-judges.
    path = tmp_path / "spend.yaml"
    path.write_text(SPEND_POLICY)
    store: CounterStore = (
        MemoryStore() if backend == "memory" else SqliteStore(tmp_path / "state.db")
    )
    gate = Gate(
        policy=PolicyWatcher(path, load_compiled_policy),
        store=store,
        audit=JsonlAuditSink(tmp_path / "audit", key=b"k" * 32),
    )
    answers: dict[int, Forward | Reply] = {}

    async def pay(request_id: int) -> None:
        answers[request_id] = await gate.on_client_message(
            _call(request_id, "pay", {"amount": 30}), PEER
        )
        if isinstance(answers[request_id], Forward):
            await gate.on_server_message(_ok(request_id), PEER)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for request_id in range(8):
                group.start_soon(pay, request_id)
    allowed = [i for i, answer in answers.items() if isinstance(answer, Forward)]
    refused = [answer for answer in answers.values() if isinstance(answer, Reply)]
    assert len(allowed) == 3  # 3 x 30 = 90; a fourth would make 120
    for answer in refused:
        text = answer.body["result"]["content"][0]["text"]
        assert "spend cap of 100 reached" in text or "counters kept changing" in text
    await gate.audit.aclose()
    await store.aclose()
