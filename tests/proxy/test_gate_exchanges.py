"""Stateless HTTP clients of one agent share a session but not their request ids.

Regression: on 2026-07-28 every client of an agent without a `Callgate-Session` header is
in session `<agent>/default`, and each numbers its requests from 1. The gate tracked calls
in flight by (session, id), so a second client's call 1 was refused with "request id
already in flight" while the first client's call 1 was still running.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from callgate.proxy.audit import NullAuditSink
from callgate.proxy.gate import EXCHANGE, Gate
from callgate.proxy.hooks import Forward, Message, Peer
from callgate.proxy.jsonrpc import encode
from callgate.state.memory import MemoryStore
from tests.proxy.test_gate import FixedSource, TableJudge

pytestmark = pytest.mark.anyio


def _message(body: dict[str, object]) -> Message:
    return Message(body, encode(body))


def _exchange(name: str) -> Peer:
    return Peer(server="srv", session="alice/default", extra={EXCHANGE: name})


async def test_two_exchanges_of_one_session_may_use_the_same_request_id(tmp_path: Path) -> None:
    gate = Gate(policy=FixedSource(TableJudge()), store=MemoryStore(), audit=NullAuditSink())
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}
    first, second = _exchange("one"), _exchange("two")
    with anyio.fail_after(5):
        assert isinstance(await gate.on_client_message(_message(call), first), Forward)
        assert isinstance(await gate.on_client_message(_message(call), second), Forward)
        assert gate.in_flight == 2
        answer = {"jsonrpc": "2.0", "id": 1, "result": {"content": []}}
        await gate.on_server_message(_message(answer), second)
        assert gate.in_flight == 1
        await gate.on_upstream_lost(second)  # the other exchange's call is not touched
        assert gate.in_flight == 1
        await gate.on_upstream_lost(first)
        assert gate.in_flight == 0
