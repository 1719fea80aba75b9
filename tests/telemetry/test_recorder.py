"""The gate's telemetry over the real policy engine and real stores, in process.

Each test builds a `Gate` with the compiled policy from a file, hands it `tools/call`
messages and reads the families back from the registry the gate wrote to.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from callgate.app import GateOptions, load_policy_watcher
from callgate.audit import NullAuditSink
from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.policy.decision import Decision, ToolCall, Verdict
from callgate.proxy.gate import Gate
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import encode
from callgate.proxy.reload import PolicyWatcher
from callgate.state.memory import MemoryStore
from callgate.state.redis import RedisStore
from callgate.telemetry.metrics import OTHER_TOOL, CallMetrics, ToolLabels
from callgate.telemetry.recorder import Telemetry

pytestmark = pytest.mark.anyio

PEER = Peer(server="srv", session="s1")


def watch(tmp_path: Path, text: str) -> PolicyWatcher[CompiledPolicy]:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return PolicyWatcher(path, load_compiled_policy)


def call(tool: str, request_id: int = 1, **arguments: Any) -> Message:
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    return Message(body, encode(body))


def count(metrics: CallMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_a_shadow_rule_is_counted_as_what_it_would_have_done(tmp_path: Path) -> None:
    watcher = watch(
        tmp_path,
        'version: "1"\n'
        "mode: shadow\n"
        "tools:\n"
        "  drop_table:\n"
        "    rules:\n"
        "      - {name: no-drops, action: deny}\n",
    )
    metrics = CallMetrics()
    gate = Gate(watcher, MemoryStore(), NullAuditSink(), telemetry=Telemetry(metrics=metrics))
    assert isinstance(await gate.on_client_message(call("drop_table"), PEER), Forward)
    labels = {"server": "srv", "tool": "drop_table"}
    assert (
        count(metrics, "callgate_decisions_total", **labels, decision="would_deny", rule="no-drops")
        == 1.0
    )
    assert count(metrics, "callgate_decisions_total", **labels, decision="allow", rule="") is None


def dead_redis() -> RedisStore:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return RedisStore(f"redis://127.0.0.1:{port}/0", connect_timeout=0.5, socket_timeout=0.5)


async def test_store_failures_are_counted_by_operation(tmp_path: Path) -> None:
    watcher = watch(
        tmp_path,
        'version: "1"\ntools:\n  pay:\n    rules:\n'
        "      - {name: pay-limit, rate_limit: 5/minute}\n",
    )
    metrics = CallMetrics()
    telemetry = Telemetry(metrics=metrics)
    store = telemetry.watch_store(dead_redis())
    gate = Gate(watcher, store, NullAuditSink(), telemetry=telemetry)
    try:
        answer = await gate.on_client_message(call("pay"), PEER)
    finally:
        await store.aclose()
    assert isinstance(answer, Reply)
    assert count(metrics, "callgate_store_errors_total", operation="reserve") == 1.0
    assert (
        count(
            metrics,
            "callgate_decisions_total",
            server="srv",
            tool="pay",
            decision="deny",
            rule="fail_mode",
        )
        == 1.0
    )


class HeldUntilReleased:
    """An approvals seam that answers ALLOW once the test releases it."""

    def __init__(self) -> None:
        self.asked = anyio.Event()
        self.release = anyio.Event()

    async def resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        self.asked.set()
        await self.release.wait()
        return Decision(Verdict.ALLOW, rule=decision.rule)


async def test_calls_held_for_approval_show_in_the_pending_gauge(tmp_path: Path) -> None:
    watcher = watch(
        tmp_path,
        'version: "1"\ntools:\n  refund:\n    rules:\n'
        "      - {name: ask-first, action: require_approval}\n",
    )
    metrics = CallMetrics()
    telemetry = Telemetry(metrics=metrics)
    seam = HeldUntilReleased()
    gate = Gate(
        watcher,
        MemoryStore(),
        NullAuditSink(),
        approvals=telemetry.watch_approvals(seam),
        telemetry=telemetry,
    )
    answers: list[Forward | Reply] = []

    async def ask(request_id: int) -> None:
        answers.append(await gate.on_client_message(call("refund", request_id), PEER))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(ask, 1)
            group.start_soon(ask, 2)
            await seam.asked.wait()
            await anyio.wait_all_tasks_blocked()
            assert count(metrics, "callgate_approvals_pending", server="srv") == 2.0
            seam.release.set()
    assert count(metrics, "callgate_approvals_pending", server="srv") == 0.0
    assert [type(answer) for answer in answers] == [Forward, Forward]


async def test_reloads_are_counted_applied_or_rejected(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('version: "1"\n')
    metrics = CallMetrics()
    watcher = load_policy_watcher(GateOptions(policy_path=path), Telemetry(metrics=metrics))
    path.write_text('version: "1"\ndefault: deny\n')
    assert await watcher.apply()
    path.write_text('version: "1"\ndefault: maybe\n')
    assert not await watcher.apply()
    assert count(metrics, "callgate_policy_reloads_total", result="applied") == 1.0
    assert count(metrics, "callgate_policy_reloads_total", result="rejected") == 1.0


def test_tool_labels_are_bounded_per_server_but_listed_tools_always_named() -> None:
    labels = ToolLabels(listed=lambda server, tool: tool.startswith("listed_"), cap=2)
    assert [labels.label("a", name) for name in ("x", "y", "z", "x")] == ["x", "y", OTHER_TOOL, "x"]
    assert labels.label("a", "listed_9") == "listed_9"
    assert labels.label("b", "z") == "z"  # the cap is per server
