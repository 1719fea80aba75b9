"""The broker over every store backend: wait and retry modes, grants, timeouts, channels."""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest

from callgate.approvals.broker import ApprovalBroker, ApprovalSettings, approve, deny
from callgate.approvals.clock import ManualClock
from callgate.approvals.elicitation import ClientAnswer
from callgate.approvals.model import Approval, GrantScope, Mode, Status
from callgate.approvals.store import ApprovalConflict, ApprovalStore
from callgate.policy.decision import Agent
from callgate.state.approvals_redis import RedisApprovalStore
from callgate.state.store import StoreUnavailable
from tests.approvals.conftest import StoreFactory
from tests.approvals.helpers import AGENT, EventLog, call, needs_approval
from tests.fixtures.redis import RedisServer

pytestmark = pytest.mark.anyio


def broker_on(
    store: ApprovalStore, clock: ManualClock, events: EventLog | None = None, **settings: object
) -> ApprovalBroker:
    chosen = ApprovalSettings(**settings)  # type: ignore[arg-type]
    return ApprovalBroker(store, settings=chosen, clock=clock, events=events or EventLog())


async def first_pending(store: ApprovalStore) -> Approval:
    """Wait (bounded by the caller) until a request shows up in the store."""
    while not (pending := await store.list({Status.REQUESTED})):
        await anyio.sleep(0.005)
    return pending[0]


async def test_wait_mode_holds_the_call_until_an_operator_approves(
    store_factory: StoreFactory,
) -> None:
    clock, events = ManualClock(), EventLog()
    broker = broker_on(store_factory(), clock, events)
    operator_side = store_factory()
    outcomes = []

    async def agent_calls() -> None:
        outcomes.append(await broker.judge(call(), AGENT, "s1", needs_approval()))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            pending = await first_pending(operator_side)
            assert outcomes == []
            await approve(operator_side, pending.id, by="alice", channel="cli", now=clock.now())

    assert outcomes[0].approved
    assert outcomes[0].reason == "approved by alice via cli"
    assert (await operator_side.get(pending.id)).status is Status.CONSUMED
    assert events.kinds == ["requested", "consumed"]  # the operator side audits its own step


async def test_wait_mode_denial_carries_the_operators_reason(store_factory: StoreFactory) -> None:
    clock = ManualClock()
    broker = broker_on(store_factory(), clock)
    operator_side = store_factory()
    outcomes = []

    async def agent_calls() -> None:
        outcomes.append(await broker.judge(call(), AGENT, "s1", needs_approval()))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            pending = await first_pending(operator_side)
            await deny(
                operator_side,
                pending.id,
                by="bob",
                channel="admin-api",
                now=clock.now(),
                reason="prod is frozen",
            )

    assert not outcomes[0].approved
    assert outcomes[0].reason == "denied by bob via admin-api: prod is frozen"


async def test_no_answer_by_the_timeout_means_denied(store: ApprovalStore) -> None:
    clock, events = ManualClock(), EventLog()
    broker = broker_on(store, clock, events)
    outcomes = []

    async def agent_calls() -> None:
        outcomes.append(await broker.judge(call(), AGENT, "s1", needs_approval(timeout=90)))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            await clock.wait_for_sleepers()
            clock.advance(89)
            await anyio.wait_all_tasks_blocked()
            assert outcomes == []
            clock.advance(1)

    assert not outcomes[0].approved
    assert outcomes[0].reason == "approval expired: no answer within 90 seconds"
    assert events.kinds == ["requested", "expired"]
    assert outcomes[0].approval is not None
    assert (await store.get(outcomes[0].approval.id)).status is Status.EXPIRED


async def test_the_policy_timeout_applies_when_the_rule_sets_none(store: ApprovalStore) -> None:
    clock = ManualClock()
    broker = broker_on(store, clock, timeout=30.0)
    outcomes = []

    async def agent_calls() -> None:
        outcomes.append(await broker.judge(call(), AGENT, "s1", needs_approval(timeout=None)))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            await clock.wait_for_sleepers()
            clock.advance(30)

    assert outcomes[0].reason == "approval expired: no answer within 30 seconds"


async def test_cancelling_the_waiting_call_withdraws_the_request(store: ApprovalStore) -> None:
    clock, events = ManualClock(), EventLog()
    broker = broker_on(store, clock, events)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(broker.judge, call(), AGENT, "s1", needs_approval())
            await clock.wait_for_sleepers()
            group.cancel_scope.cancel()

    [withdrawn] = await store.list()
    assert withdrawn.status is Status.WITHDRAWN
    assert events.kinds == ["requested", "withdrawn"]


@pytest.mark.parametrize(
    ("action", "approved", "reason"),
    [
        ("accept", True, "approved by ops-bot via client"),
        ("decline", False, "denied by ops-bot via client: not today"),
        ("cancel", False, "the user dismissed the approval prompt in the client"),
    ],
)
async def test_the_clients_answer_decides_the_call(
    store: ApprovalStore, action: str, approved: bool, reason: str
) -> None:
    shown: list[Approval] = []

    async def ask_client(approval: Approval) -> ClientAnswer:
        shown.append(approval)
        return ClientAnswer(action, "not today" if action == "decline" else "")  # type: ignore[arg-type]

    broker = broker_on(store, ManualClock())
    with anyio.fail_after(5):
        outcome = await broker.judge(call(), AGENT, "s1", needs_approval(), ask_client=ask_client)

    assert outcome.approved is approved
    assert reason in outcome.reason
    assert shown[0].request.tool == "delete_bucket"


async def test_the_operator_can_answer_before_the_client_does(store: ApprovalStore) -> None:
    client_asked = anyio.Event()

    async def slow_client(approval: Approval) -> ClientAnswer:
        client_asked.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    broker = broker_on(store, ManualClock())
    outcomes = []

    async def agent_calls() -> None:
        outcomes.append(
            await broker.judge(call(), AGENT, "s1", needs_approval(), ask_client=slow_client)
        )

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            await client_asked.wait()
            pending = await first_pending(store)
            await approve(store, pending.id, by="alice", channel="cli", now=0.0)

    assert outcomes[0].approved and "alice" in outcomes[0].reason


async def test_without_any_reachable_channel_the_call_is_denied(store: ApprovalStore) -> None:
    broker = broker_on(store, ManualClock(), approvers=frozenset({"client"}))

    outcome = await broker.judge(call(), AGENT, "s1", needs_approval())

    assert not outcome.approved
    assert "no approver is configured or reachable" in outcome.reason
    assert await store.list() == []


async def test_retry_mode_answers_at_once_then_lets_the_same_call_through_once(
    store: ApprovalStore,
) -> None:
    clock, events = ManualClock(), EventLog()
    broker = broker_on(store, clock, events, mode=Mode.RETRY)

    first = await broker.judge(call(), AGENT, "s1", needs_approval())
    again = await broker.judge(call(), AGENT, "s1", needs_approval())
    assert first.pending and again.pending and first.approval_id == again.approval_id
    assert f"approval {first.approval_id} requested" in first.reason

    assert first.approval_id is not None
    await approve(store, first.approval_id, by="alice", channel="cli", now=clock.now())
    through = await broker.judge(call(), AGENT, "s1", needs_approval())
    after = await broker.judge(call(), AGENT, "s1", needs_approval())

    assert through.approved and through.approval_id == first.approval_id
    assert after.pending and after.approval_id != first.approval_id
    assert events.kinds == ["requested", "consumed", "requested"]


async def test_an_approval_never_covers_changed_arguments(store: ApprovalStore) -> None:
    clock = ManualClock()
    broker = broker_on(store, clock, mode=Mode.RETRY)
    first = await broker.judge(call(bucket="staging"), AGENT, "s1", needs_approval())
    assert first.approval_id is not None
    await approve(store, first.approval_id, by="alice", channel="cli", now=clock.now())

    changed = await broker.judge(call(bucket="prod"), AGENT, "s1", needs_approval())
    other_agent = await broker.judge(
        call(bucket="staging"), Agent("intruder"), "s1", needs_approval()
    )

    assert changed.pending and changed.approval_id != first.approval_id
    assert other_agent.pending and other_agent.approval_id != first.approval_id
    assert (await store.get(first.approval_id)).status is Status.APPROVED


async def test_retry_mode_reports_a_denial_until_the_timeout_passes(store: ApprovalStore) -> None:
    clock = ManualClock()
    broker = broker_on(store, clock, mode=Mode.RETRY)
    first = await broker.judge(call(), AGENT, "s1", needs_approval(timeout=60))
    assert first.approval_id is not None
    await deny(store, first.approval_id, by="bob", channel="cli", now=clock.now(), reason="no")

    denied = await broker.judge(call(), AGENT, "s1", needs_approval(timeout=60))
    clock.advance(60)
    asked_again = await broker.judge(call(), AGENT, "s1", needs_approval(timeout=60))

    assert not denied.pending and denied.reason == "denied by bob via cli: no"
    assert asked_again.pending and asked_again.approval_id != first.approval_id


async def test_retry_mode_expires_an_unanswered_request_and_asks_again(
    store: ApprovalStore,
) -> None:
    clock, events = ManualClock(), EventLog()
    broker = broker_on(store, clock, events, mode=Mode.RETRY)
    first = await broker.judge(call(), AGENT, "s1", needs_approval(timeout=60))
    clock.advance(61)

    second = await broker.judge(call(), AGENT, "s1", needs_approval(timeout=60))

    assert first.approval_id is not None
    assert (await store.get(first.approval_id)).status is Status.EXPIRED
    assert second.pending and second.approval_id != first.approval_id
    assert events.kinds == ["requested", "expired", "requested"]


async def test_a_session_grant_lets_the_same_call_through_in_that_session_only(
    store: ApprovalStore,
) -> None:
    clock = ManualClock()
    broker = broker_on(store, clock, mode=Mode.RETRY)
    first = await broker.judge(call(), AGENT, "s1", needs_approval())
    assert first.approval_id is not None
    await approve(
        store,
        first.approval_id,
        by="alice",
        channel="cli",
        now=clock.now(),
        scope=GrantScope.SESSION,
    )

    outcomes = [await broker.judge(call(), AGENT, "s1", needs_approval()) for _ in range(3)]
    elsewhere = await broker.judge(call(), AGENT, "s2", needs_approval())

    assert all(o.approved and o.grant is not None for o in outcomes)
    assert elsewhere.pending


async def test_a_grant_for_n_minutes_ends_after_them(store: ApprovalStore) -> None:
    clock = ManualClock()
    broker = broker_on(store, clock, mode=Mode.RETRY)
    first = await broker.judge(call(), AGENT, "s1", needs_approval())
    assert first.approval_id is not None
    await approve(
        store,
        first.approval_id,
        by="alice",
        channel="cli",
        now=clock.now(),
        scope=GrantScope.DURATION,
        for_seconds=1800,
    )

    clock.advance(1799)
    inside = await broker.judge(call(), AGENT, "other-session", needs_approval())
    clock.advance(1)
    outside = await broker.judge(call(), AGENT, "other-session", needs_approval())

    assert inside.approved and inside.grant is not None
    assert outside.pending


async def test_a_request_survives_a_restart_and_is_honoured_after(
    store_factory: StoreFactory,
) -> None:
    clock = ManualClock()
    before = store_factory()
    first = await broker_on(before, clock, mode=Mode.RETRY).judge(
        call(), AGENT, "s1", needs_approval()
    )
    await before.aclose()

    after = store_factory()
    assert first.approval_id is not None
    await approve(after, first.approval_id, by="alice", channel="cli", now=clock.now())
    outcome = await broker_on(after, clock, mode=Mode.RETRY).judge(
        call(), AGENT, "s1", needs_approval()
    )

    assert outcome.approved and outcome.approval_id == first.approval_id


async def test_two_brokers_on_one_store_consume_an_approval_once(
    store_factory: StoreFactory,
) -> None:
    clock = ManualClock()
    one = broker_on(store_factory(), clock, mode=Mode.RETRY)
    two = broker_on(store_factory(), clock, mode=Mode.RETRY)
    first = await one.judge(call(), AGENT, "s1", needs_approval())
    assert first.approval_id is not None
    await approve(store_factory(), first.approval_id, by="alice", channel="cli", now=clock.now())

    outcomes = [await b.judge(call(), AGENT, "s1", needs_approval()) for b in (two, one)]

    assert [o.approved for o in outcomes] == [True, False]


async def test_an_approval_cannot_be_given_twice(store: ApprovalStore) -> None:
    clock = ManualClock()
    first = await broker_on(store, clock, mode=Mode.RETRY).judge(
        call(), AGENT, "s1", needs_approval()
    )
    assert first.approval_id is not None
    await deny(store, first.approval_id, by="bob", channel="cli", now=0.0, reason="no")

    with pytest.raises(ApprovalConflict):
        await approve(store, first.approval_id, by="alice", channel="cli", now=0.0)


async def test_a_client_answer_for_a_different_call_is_refused(store: ApprovalStore) -> None:
    broker = broker_on(store, ManualClock())
    approval = await broker.open_request(call(bucket="staging"), AGENT, "s1", needs_approval())

    outcome = await broker.answer_from_client(
        approval.id, call(bucket="prod"), AGENT, ClientAnswer("accept")
    )

    assert not outcome.approved and "different call" in outcome.reason
    assert (await store.get(approval.id)).status is Status.REQUESTED


async def test_a_client_answer_in_a_retried_call_approves_it_once(store: ApprovalStore) -> None:
    events = EventLog()
    broker = broker_on(store, ManualClock(), events)
    approval = await broker.open_request(call(), AGENT, "s1", needs_approval())

    outcome = await broker.answer_from_client(approval.id, call(), AGENT, ClientAnswer("accept"))
    replay = await broker.answer_from_client(approval.id, call(), AGENT, ClientAnswer("accept"))

    assert outcome.approved
    assert not replay.approved and "already used" in replay.reason
    assert events.kinds == ["requested", "approved", "consumed"]


def test_settings_default_to_wait_mode_ten_minutes_and_both_channels() -> None:
    settings = ApprovalSettings()
    assert (settings.mode, settings.timeout) == (Mode.WAIT, 600.0)
    assert settings.approvers == frozenset({"client", "operator"})
    assert replace(settings, mode=Mode.RETRY).mode is Mode.RETRY


async def test_a_client_answer_after_the_timeout_does_not_approve(store: ApprovalStore) -> None:
    clock, events = ManualClock(), EventLog()
    broker = broker_on(store, clock, events)
    approval = await broker.open_request(call(), AGENT, "s1", needs_approval(timeout=60))
    clock.advance(60)

    outcome = await broker.answer_from_client(approval.id, call(), AGENT, ClientAnswer("accept"))

    assert not outcome.approved
    assert outcome.reason == "approval expired: no answer within 60 seconds"
    assert events.kinds == ["requested", "expired"]


async def test_an_operator_answer_after_the_timeout_is_refused(store: ApprovalStore) -> None:
    clock, events = ManualClock(), EventLog()
    first = await broker_on(store, clock, mode=Mode.RETRY).judge(
        call(), AGENT, "s1", needs_approval(timeout=60)
    )
    assert first.approval_id is not None

    with pytest.raises(ApprovalConflict) as late:
        await approve(
            store,
            first.approval_id,
            by="alice",
            channel="cli",
            now=clock.now() + 60,
            events=events,
        )

    assert late.value.current.status is Status.EXPIRED
    assert "already expired" in str(late.value)
    assert events.kinds == ["expired"]


async def test_a_store_failure_while_waiting_surfaces_as_store_unavailable(
    private_redis_server: RedisServer,
) -> None:
    store = RedisApprovalStore(private_redis_server.url(), poll_interval=0.01)
    broker = broker_on(store, ManualClock())
    failures: list[Exception] = []

    async def agent_calls() -> None:
        try:
            await broker.judge(call(), AGENT, "s1", needs_approval())
        except StoreUnavailable as error:  # not wrapped in an exception group
            failures.append(error)

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(agent_calls)
                await first_pending(store)
                private_redis_server.stop()
    finally:
        await store.aclose()

    assert len(failures) == 1


async def test_a_client_that_fails_to_answer_leaves_the_decision_to_the_timeout(
    store: ApprovalStore,
) -> None:
    clock = ManualClock()

    async def broken_client(approval: Approval) -> ClientAnswer:
        raise ConnectionError("client went away")

    broker = broker_on(store, clock, approvers=frozenset({"client"}))
    outcomes = []

    async def agent_calls() -> None:
        outcomes.append(
            await broker.judge(call(), AGENT, "s1", needs_approval(), ask_client=broken_client)
        )

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            await clock.wait_for_sleepers()
            await anyio.wait_all_tasks_blocked()
            clock.advance(60)

    assert not outcomes[0].approved and "no answer within 60 seconds" in outcomes[0].reason
