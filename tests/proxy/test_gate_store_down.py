"""An unreachable counter store: the real engine and a real Redis client on a dead port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.proxy.audit import NullAuditSink
from callgate.proxy.gate import Gate
from callgate.proxy.hooks import Forward, Message, Peer, Reply
from callgate.proxy.jsonrpc import encode
from callgate.proxy.reload import PolicyWatcher
from callgate.state.redis import RedisStore

pytestmark = pytest.mark.anyio

POLICY = """\
version: "1"
fail_mode: {mode}
tools:
  pay:
    rules:
      - name: pay-limit
        rate_limit: 5/minute
"""


def _dead_redis_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there any more


def _gate(tmp_path: Path, mode: str) -> Gate:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(mode=mode))
    watcher: PolicyWatcher[CompiledPolicy] = PolicyWatcher(path, load_compiled_policy)
    return Gate(
        policy=watcher,
        store=RedisStore(_dead_redis_url(), connect_timeout=0.5, socket_timeout=0.5),
        audit=NullAuditSink(),
    )


def _call(tool: str) -> Message:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
    return Message(body, encode(body))


async def test_store_down_fails_closed_by_default(tmp_path: Path) -> None:
    gate = _gate(tmp_path, "closed")
    try:
        answer = await gate.on_client_message(_call("pay"), Peer("srv", "s"))
        assert isinstance(answer, Reply)
        details = answer.body["result"]["_meta"]["callgate/decision"]
        assert details["verdict"] == "deny"
        assert "limit store unavailable" in details["reason"]
        # A call no counter governs never touches the store, so it still goes through.
        assert isinstance(await gate.on_client_message(_call("read"), Peer("srv", "t")), Forward)
    finally:
        await gate.store.aclose()


async def test_store_down_lets_calls_through_when_the_policy_says_fail_open(
    tmp_path: Path,
) -> None:
    gate = _gate(tmp_path, "open")
    try:
        assert isinstance(await gate.on_client_message(_call("pay"), Peer("srv", "s")), Forward)
    finally:
        await gate.store.aclose()
