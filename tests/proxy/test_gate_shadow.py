"""Shadow mode through the real gate: the real engine, memory store, chained audit log.

A rule in shadow mode lets the call through and the audit log records what it would have
done (`would_deny`, `would_rate_limit`, `would_require_approval`) beside the verdict that
was enforced; enforced rules still decide; a shadow rate limit counts the calls it would
have admitted and none it would have refused; a policy file switched between enforce and
shadow takes effect on the next call.
"""

from __future__ import annotations

import os
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from callgate.audit import JsonlAuditSink, read_records
from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.policy.decision import Decision, ToolCall, Verdict
from callgate.proxy.gate import Gate
from callgate.proxy.hooks import Forward, Peer, Reply
from callgate.proxy.reload import PolicyWatcher
from callgate.state.counters import CounterKey, Scope, Window, WindowKind
from callgate.state.memory import MemoryStore
from tests.proxy.test_gate import Clock, _call, _ok

pytestmark = pytest.mark.anyio

PEER = Peer(server="srv", session="s1")

LIMITS = """\
version: "1"
tools:
  send:
    rules:
      - {name: watched-pace, rate_limit: 1/minute, mode: shadow}
      - {name: hard-pace, rate_limit: 3/minute}
"""

DELETES = """\
version: "1"
mode: {mode}
tools:
  delete_file:
    rules:
      - name: no-deletes
        action: deny
        on_deny: "deleting files is not allowed"
"""


class Asked:
    """An approver that approves every call and remembers which it was asked about."""

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []

    async def resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        self.calls.append(call)
        return replace(decision, verdict=Verdict.ALLOW, reason="approved by ops")


def _gate(tmp_path: Path, policy: str, approvals: Asked | None = None) -> tuple[Gate, MemoryStore]:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    store = MemoryStore()
    clock = Clock()
    gate = Gate(
        policy=PolicyWatcher(path, load_compiled_policy),
        store=store,
        audit=JsonlAuditSink(tmp_path / "audit", key=b"k" * 32),
        clock=clock,
        monotonic=clock,
        approvals=approvals,
    )
    return gate, store


async def _send(gate: Gate, request_id: int, tool: str) -> Forward | Reply:
    """One call; a forwarded one gets a successful answer from "upstream"."""
    answer = await gate.on_client_message(_call(request_id, tool, {}), PEER)
    if isinstance(answer, Forward):
        await gate.on_server_message(_ok(request_id), PEER)
    return answer


async def _records(gate: Gate, tmp_path: Path) -> list[dict[str, Any]]:
    await gate.audit.aclose()
    return read_records(tmp_path / "audit")


def _pace_key(name: str) -> CounterKey:
    return CounterKey(
        "srv", Scope.SESSION, "s1", f"rate:send/{name}", Window(WindowKind.SLIDING, 60)
    )


async def test_a_full_shadow_limit_refuses_nothing_counts_nothing_and_the_enforced_one_wins(
    tmp_path: Path,
) -> None:
    gate, store = _gate(tmp_path, LIMITS)
    answers = [await _send(gate, n, "send") for n in range(1, 5)]
    assert [type(a) for a in answers] == [Forward, Forward, Forward, Reply]
    refused = answers[3]
    assert isinstance(refused, Reply)
    assert refused.body["result"]["_meta"]["callgate/decision"]["rule"] == "hard-pace"

    records = await _records(gate, tmp_path)
    assert [(r["decision"], r["rule"], r.get("enforced")) for r in records] == [
        ("allow", None, None),
        ("would_rate_limit", "watched-pace", "allow"),
        ("would_rate_limit", "watched-pace", "allow"),
        ("rate_limited", "hard-pace", None),
    ]
    assert records[1]["outcome"] == "ok"
    assert records[1]["reason"].startswith("Rate limit of 1 per minute reached")
    # The shadow limit holds only the call it admitted; the enforced one the three it did.
    values = await store.read([_pace_key("watched-pace"), _pace_key("hard-pace")], Clock().now)
    assert values == {_pace_key("watched-pace"): Decimal(1), _pace_key("hard-pace"): Decimal(3)}


async def test_a_shadow_approval_asks_nobody(tmp_path: Path) -> None:
    policy = """\
version: "1"
tools:
  refund:
    rules:
      - {name: refunds-need-a-human, action: require_approval, mode: shadow}
"""
    asked = Asked()
    gate, _ = _gate(tmp_path, policy, asked)
    assert isinstance(await _send(gate, 1, "refund"), Forward)
    assert asked.calls == []
    [record] = await _records(gate, tmp_path)
    assert (record["decision"], record["rule"], record["enforced"]) == (
        "would_require_approval",
        "refunds-need-a-human",
        "allow",
    )


async def test_an_approved_call_a_shadow_rule_would_deny_is_logged_as_would_deny(
    tmp_path: Path,
) -> None:
    policy = """\
version: "1"
tools:
  refund:
    rules:
      - {name: refunds-need-a-human, action: require_approval}
      - {name: no-refunds, action: deny, mode: shadow}
"""
    asked = Asked()
    gate, _ = _gate(tmp_path, policy, asked)
    assert isinstance(await _send(gate, 1, "refund"), Forward)
    assert [call.tool for call in asked.calls] == ["refund"]
    [record] = await _records(gate, tmp_path)
    assert (record["decision"], record["rule"], record["enforced"], record["outcome"]) == (
        "would_deny",
        "no-refunds",
        "allow",
        "ok",
    )


def _switch(path: Path, mode: str) -> None:
    path.write_text(DELETES.replace("{mode}", mode))
    info = path.stat()  # the mtime must move even on filesystems with coarse timestamps
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


async def test_a_reload_from_enforce_to_shadow_and_back_applies_to_the_next_call(
    tmp_path: Path,
) -> None:
    gate, _ = _gate(tmp_path, DELETES.replace("{mode}", "enforce"))
    watcher = gate.policy
    assert isinstance(watcher, PolicyWatcher)
    path = tmp_path / "policy.yaml"

    enforced = await _send(gate, 1, "delete_file")
    _switch(path, "shadow")
    assert watcher.reload()
    shadowed = await _send(gate, 2, "delete_file")
    _switch(path, "enforce")
    assert watcher.reload()
    enforced_again = await _send(gate, 3, "delete_file")

    assert [type(a) for a in (enforced, shadowed, enforced_again)] == [Reply, Forward, Reply]
    current: CompiledPolicy = watcher.current()
    assert not current.shadow_mode
    records = await _records(gate, tmp_path)
    assert [(r["decision"], r["rule"], r.get("enforced"), r["outcome"]) for r in records] == [
        ("deny", "no-deletes", None, None),
        ("would_deny", "no-deletes", "allow", "ok"),
        ("deny", "no-deletes", None, None),
    ]
    assert records[1]["reason"] == "deleting files is not allowed"
