"""Progress notifications while a call waits for approval, on an injected clock."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from callgate.approvals.broker import ApprovalBroker, ApprovalSettings, approve, deny
from callgate.approvals.clock import ManualClock
from callgate.approvals.model import Mode
from callgate.approvals.seam import CALL_CONTEXT, CallContext, GateApprovals
from callgate.policy.decision import Decision, Verdict
from callgate.proxy.hooks import Peer
from callgate.state.approvals_memory import MemoryApprovalStore
from tests.approvals.helpers import AGENT, call, needs_approval

pytestmark = pytest.mark.anyio

INTERVAL = 10.0


class Notes:
    """A `ClientNotifier` that keeps what it is told; `fail` makes it raise instead."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail
        self.arrived = anyio.Event()

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        self.arrived.set()
        if self.fail:
            raise OSError("the client went away")
        self.sent.append((method, params))

    async def until(self, count: int) -> None:
        while len(self.sent) < count:
            self.arrived = anyio.Event()
            await self.arrived.wait()


class Held:
    """One call held by the seam in wait mode, with a progress token and a notifier."""

    def __init__(self, notes: Notes, meta: Any) -> None:
        self.store = MemoryApprovalStore()
        self.clock = ManualClock()
        settings = ApprovalSettings(mode=Mode.WAIT, approvers=frozenset({"operator"}))
        broker = ApprovalBroker(self.store, settings=settings, clock=self.clock)
        self.seam = GateApprovals(broker, lambda: settings)
        self.peer = Peer("s3", "session-1", AGENT, notifier=notes)
        self.meta = meta
        self.decision: Decision | None = None

    async def run(self) -> None:
        token = CALL_CONTEXT.set(CallContext(meta=self.meta, progress_interval=INTERVAL))
        try:
            self.decision = await self.seam.resolve(call(), needs_approval(600), self.peer)
        finally:
            CALL_CONTEXT.reset(token)

    async def approval_id(self) -> str:
        while not (pending := await self.store.list()):
            await anyio.sleep(0)
        return pending[0].id


async def test_a_waiting_call_reports_progress_each_interval_until_approved() -> None:
    notes = Notes()
    held = Held(notes, {"progressToken": "tok-7"})
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(held.run)
            await notes.until(1)  # at once, before any time passes
            approval_id = await held.approval_id()
            for beats in (2, 3):
                await held.clock.wait_for_sleepers(2)  # the timeout and the next beat
                held.clock.advance(INTERVAL)
                await notes.until(beats)
            await approve(held.store, approval_id, by="ops", channel="cli", now=held.clock.now())
        held.clock.advance(INTERVAL * 5)  # after the decision nothing more is sent
        await anyio.sleep(0)

    assert held.decision is not None and held.decision.verdict is Verdict.ALLOW
    assert notes.sent == [
        (
            "notifications/progress",
            {
                "progressToken": "tok-7",
                "progress": beat,
                "message": f"waiting for approval {approval_id}",
            },
        )
        for beat in (1, 2, 3)
    ]


async def test_a_client_that_cannot_be_told_still_gets_the_decision() -> None:
    notes = Notes(fail=True)
    held = Held(notes, {"progressToken": 3})
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(held.run)
            await notes.arrived.wait()
            approval_id = await held.approval_id()
            await deny(
                held.store, approval_id, by="ops", channel="cli", now=held.clock.now(), reason="no"
            )

    assert held.decision is not None and held.decision.verdict is Verdict.DENY
    assert "denied by ops via cli: no" in held.decision.reason


@pytest.mark.parametrize("meta", [None, {}, {"progressToken": True}, {"progressToken": 1.5}])
async def test_no_progress_without_a_usable_progress_token(meta: Any) -> None:
    notes = Notes()
    held = Held(notes, meta)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(held.run)
            approval_id = await held.approval_id()
            await held.clock.wait_for_sleepers(1)  # only the timeout sleeps
            await approve(held.store, approval_id, by="ops", channel="cli", now=held.clock.now())

    assert held.decision is not None and held.decision.verdict is Verdict.ALLOW
    assert notes.sent == []
