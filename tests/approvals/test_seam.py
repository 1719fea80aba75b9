"""The gate's approvals seam and the client-approval interceptor, on real stores."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from decimal import Decimal

import pytest

from callgate.approvals.broker import ApprovalBroker, ApprovalSettings, approve
from callgate.approvals.clock import ManualClock
from callgate.approvals.interceptor import STATE_PREFIX, ClientApprovalInterceptor
from callgate.approvals.model import Mode, Status
from callgate.approvals.seam import CALL_CONTEXT, CallContext, GateApprovals
from callgate.approvals.store import ApprovalStore
from callgate.policy.decision import Decision, Verdict
from callgate.proxy.hooks import Forward, Message, PassThrough, Peer, Reply
from callgate.state.approvals_memory import MemoryApprovalStore
from callgate.state.approvals_redis import RedisApprovalStore
from callgate.state.counters import Charge, CounterKey, Scope, Window, WindowKind
from tests.approvals.helpers import AGENT, call, needs_approval

pytestmark = pytest.mark.anyio

PEER = Peer("s3", "session-1", AGENT)


def seam_on(store: ApprovalStore, settings: ApprovalSettings) -> GateApprovals:
    broker = ApprovalBroker(store, settings=settings, clock=ManualClock())
    return GateApprovals(broker, lambda: settings, categorize=lambda server, tool: "destructive")


async def test_an_approval_keeps_the_rules_charges_and_lets_the_call_through_once() -> None:
    store = MemoryApprovalStore()
    seam = seam_on(store, ApprovalSettings(mode=Mode.RETRY))
    charge = Charge(
        CounterKey("s3", Scope.GLOBAL, "*", "deletes", Window(WindowKind.CALENDAR, 86400)),
        amount=Decimal(1),
        rule="approve-deletes",
    )
    decision = Decision(
        Verdict.APPROVAL_REQUIRED, rule="approve-deletes", approval_timeout=60, charges=(charge,)
    )
    pending = await seam.resolve(call(), decision, PEER)
    [request] = await store.list()
    await approve(store, request.id, by="alice", channel="cli", now=ManualClock().now())
    token = CALL_CONTEXT.set(CallContext())
    try:
        first = await seam.resolve(call(), decision, PEER)
        again = await seam.resolve(call(), decision, PEER)
    finally:
        CALL_CONTEXT.reset(token)

    assert pending.verdict is Verdict.APPROVAL_REQUIRED and request.id in pending.reason
    assert first.verdict is Verdict.ALLOW
    assert first.charges == (charge,)
    # The gate asks last, once per call: the same call again is a new request.
    assert again.verdict is Verdict.APPROVAL_REQUIRED and request.id not in again.reason
    assert request.request.category == "destructive"


async def test_with_nobody_to_ask_the_approval_stays_required() -> None:
    seam = seam_on(MemoryApprovalStore(), ApprovalSettings(approvers=frozenset({"client"})))

    decision = await seam.resolve(call(), needs_approval(), PEER)

    assert decision.verdict is Verdict.APPROVAL_REQUIRED
    assert "no approver is configured or reachable" in decision.reason


async def test_an_unreachable_store_denies() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisApprovalStore(f"redis://127.0.0.1:{port}/0")
    try:
        decision = await seam_on(store, ApprovalSettings()).resolve(call(), needs_approval(), PEER)
    finally:
        await store.aclose()

    assert decision.verdict is Verdict.DENY
    assert decision.reason.startswith("approval is required and the approval store is unreachable")


async def test_an_unknown_approval_in_a_retry_denies() -> None:
    seam = seam_on(MemoryApprovalStore(), ApprovalSettings())
    token = CALL_CONTEXT.set(CallContext(approval_id="ap_forged"))
    try:
        decision = await seam.resolve(call(), needs_approval(), PEER)
    finally:
        CALL_CONTEXT.reset(token)

    assert decision.verdict is Verdict.DENY
    assert "no approval with id 'ap_forged'" in decision.reason


async def test_a_2026_client_that_can_elicit_gets_a_prompt_instead_of_a_wait() -> None:
    store = MemoryApprovalStore()
    seam = seam_on(store, ApprovalSettings())
    meta: dict[str, object] = {
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}}
    }
    context = CallContext(meta=meta)
    token = CALL_CONTEXT.set(context)
    try:
        decision = await seam.resolve(call(), needs_approval(), PEER)
    finally:
        CALL_CONTEXT.reset(token)

    assert decision.verdict is Verdict.APPROVAL_REQUIRED
    assert context.prompt is not None
    assert (await store.get(context.prompt.id)).status is Status.REQUESTED


def tools_call(params: Mapping[str, object]) -> Message:
    return Message({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": dict(params)})


async def test_callgates_request_state_never_reaches_the_server() -> None:
    interceptor = ClientApprovalInterceptor(PassThrough())
    params = {
        "name": "delete_bucket",
        "arguments": {"bucket": "prod"},
        "requestState": STATE_PREFIX + "ap_1",
        "inputResponses": {"callgate.approval": {"action": "accept"}},
    }

    answer = await interceptor.on_client_message(tools_call(params), PEER)

    assert isinstance(answer, Forward)
    assert answer.message.body["params"] == {
        "name": "delete_bucket",
        "arguments": {"bucket": "prod"},
    }
    assert answer.message.raw == b""


async def test_the_servers_own_request_state_passes_untouched() -> None:
    interceptor = ClientApprovalInterceptor(PassThrough())
    message = tools_call({"name": "x", "requestState": "server-state", "inputResponses": {"a": {}}})
    message.raw = b"original bytes"

    answer = await interceptor.on_client_message(message, PEER)

    assert isinstance(answer, Forward) and answer.message is message


async def test_a_malformed_answer_is_a_json_rpc_error() -> None:
    interceptor = ClientApprovalInterceptor(PassThrough())
    params = {
        "name": "x",
        "requestState": STATE_PREFIX + "ap_1",
        "inputResponses": {"callgate.approval": {"action": "maybe"}},
    }

    answer = await interceptor.on_client_message(tools_call(params), PEER)

    assert isinstance(answer, Reply)
    assert answer.body["error"]["code"] == -32602
    assert "unknown elicitation action 'maybe'" in answer.body["error"]["message"]
