"""Answers go out before their counters and audit records are settled.

With `run_settler` running (as `open_gate` runs it), `on_server_message` hands the answer
back at once and the settling happens in the next turn of the loop; what is still queued
when the settler stops is settled by `settle_answered`. Real policy engine, memory store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from callgate.policy.compiler import load_compiled_policy
from callgate.proxy.gate import Gate
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import encode
from callgate.proxy.reload import PolicyWatcher
from callgate.state.memory import MemoryStore

pytestmark = pytest.mark.anyio

PEER = Peer(server="srv", session="s1")
POLICY = """\
version: "1"
tools:
  send:
    rules:
      - name: one-per-minute
        rate_limit: 1/minute
"""


class Recorder:
    """An audit sink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []

    def record(self, event: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> None:
        self.events.append(event)

    async def aclose(self) -> None:
        return None


def _gate(tmp_path: Path) -> tuple[Gate, Recorder]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    audit = Recorder()
    return Gate(
        policy=PolicyWatcher(path, load_compiled_policy), store=MemoryStore(), audit=audit
    ), audit


async def _call(gate: Gate, request_id: int) -> Forward | Reply:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "send"}}
    return await gate.on_client_message(Message(body, encode(body)), PEER)


async def _answer(gate: Gate, request_id: int, *, failed: bool) -> Message | None:
    body = {"jsonrpc": "2.0", "id": request_id, "result": {"content": [], "isError": failed}}
    return await gate.on_server_message(Message(body, encode(body)), PEER)


async def test_the_answer_is_handed_back_before_its_call_is_settled(tmp_path: Path) -> None:
    gate, audit = _gate(tmp_path)
    async with anyio.create_task_group() as group:
        await group.start(gate.run_settler)
        assert isinstance(await _call(gate, 1), Forward)
        answer = await _answer(gate, 1, failed=True)
        assert answer is not None and answer.body["id"] == 1
        assert audit.events == []  # not settled yet: the answer did not wait for it
        await anyio.wait_all_tasks_blocked()
        assert [e["outcome"] for e in audit.events] == ["tool_error"]
        assert audit.events[0]["latency_ms"] >= 0
        # The failed call was rolled back: its one slot per minute is free again.
        assert isinstance(await _call(gate, 2), Forward)
        await _answer(gate, 2, failed=False)
        await anyio.wait_all_tasks_blocked()
        third = await _call(gate, 3)
        assert isinstance(third, Reply)
        assert third.body["result"]["_meta"]["callgate/decision"]["verdict"] == "rate_limited"
        group.cancel_scope.cancel()


async def test_every_answered_call_is_settled_once_when_the_settler_stops(
    tmp_path: Path,
) -> None:
    gate, audit = _gate(tmp_path)
    async with anyio.create_task_group() as group:
        await group.start(gate.run_settler)
        await _call(gate, 1)
        await _answer(gate, 1, failed=True)
        group.cancel_scope.cancel()  # the settler may or may not take its next turn
    await gate.settle_answered()
    assert [e["outcome"] for e in audit.events] == ["tool_error"]
    assert isinstance(await _call(gate, 2), Forward)  # rolled back: the slot is free


async def test_without_a_settler_calls_are_settled_before_the_answer(tmp_path: Path) -> None:
    gate, audit = _gate(tmp_path)
    await _call(gate, 1)
    await _answer(gate, 1, failed=False)
    assert [e["outcome"] for e in audit.events] == ["ok"]
