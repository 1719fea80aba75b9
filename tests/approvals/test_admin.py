"""The admin API served by uvicorn on loopback, driven over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest

from callgate.approvals.admin import build_admin_app
from callgate.approvals.broker import ApprovalBroker, ApprovalOutcome, ApprovalSettings
from callgate.approvals.clock import ManualClock
from callgate.approvals.model import GrantScope, Mode, Status
from callgate.approvals.store import ApprovalStore
from callgate.state.approvals_memory import MemoryApprovalStore
from tests.approvals.helpers import AGENT, EventLog, call, needs_approval
from tests.approvals.receiver import serving

pytestmark = pytest.mark.anyio

TOKEN = "admin-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def memory_store() -> ApprovalStore:
    return MemoryApprovalStore()


@pytest.fixture
async def admin(memory_store: ApprovalStore, events: EventLog) -> AsyncIterator[httpx2.AsyncClient]:
    app = build_admin_app(memory_store, token=TOKEN, events=events, clock=ManualClock())
    async with serving(app) as url, httpx2.AsyncClient(base_url=url) as client:
        yield client


async def pending(store: ApprovalStore) -> str:
    broker = ApprovalBroker(store, settings=ApprovalSettings(mode=Mode.RETRY))
    outcome = await broker.judge(call(), AGENT, "s1", needs_approval())
    assert outcome.approval_id is not None
    return outcome.approval_id


async def test_approving_through_the_api_releases_a_waiting_call(
    memory_store: ApprovalStore, admin: httpx2.AsyncClient, events: EventLog
) -> None:
    broker = ApprovalBroker(memory_store, clock=ManualClock())
    outcomes: list[ApprovalOutcome] = []

    async def agent_calls() -> None:
        outcomes.append(await broker.judge(call(), AGENT, "s1", needs_approval()))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            await anyio.wait_all_tasks_blocked()
            listed = (await admin.get("/approvals", headers=AUTH)).json()["approvals"]
            [waiting] = listed
            answer = await admin.post(
                f"/approvals/{waiting['id']}/approve",
                headers=AUTH,
                json={"by": "alice", "reason": "change CHG-7"},
            )

    assert answer.status_code == 200 and answer.json()["status"] == "approved"
    assert outcomes[0].approved and outcomes[0].reason == "approved by alice via admin-api"
    approved = events.events[0]
    assert (approved.kind.value, approved.by, approved.channel, approved.reason) == (
        "approval.approved",
        "alice",
        "admin-api",
        "change CHG-7",
    )


async def test_deny_needs_a_reason_and_then_records_it(
    memory_store: ApprovalStore, admin: httpx2.AsyncClient
) -> None:
    approval_id = await pending(memory_store)

    empty = await admin.post(f"/approvals/{approval_id}/deny", headers=AUTH, json={})
    denied = await admin.post(
        f"/approvals/{approval_id}/deny", headers=AUTH, json={"by": "bob", "reason": "frozen"}
    )

    assert empty.status_code == 400 and "reason" in empty.json()["error"]
    assert denied.status_code == 200
    resolution = denied.json()["resolution"]
    assert (resolution["status"], resolution["by"], resolution["reason"]) == (
        "denied",
        "bob",
        "frozen",
    )


async def test_a_grant_for_a_duration_or_the_session_can_be_given(
    memory_store: ApprovalStore, admin: httpx2.AsyncClient
) -> None:
    first, second = await pending(memory_store), None
    by_time = await admin.post(f"/approvals/{first}/approve", headers=AUTH, json={"for": "30m"})
    second = await ApprovalBroker(memory_store, settings=ApprovalSettings(mode=Mode.RETRY)).judge(
        call(bucket="other"), AGENT, "s1", needs_approval()
    )
    by_session = await admin.post(
        f"/approvals/{second.approval_id}/approve", headers=AUTH, json={"session": True}
    )

    assert by_time.json()["resolution"]["scope"] == GrantScope.DURATION.value
    assert by_time.json()["resolution"]["until"] == by_time.json()["resolution"]["at"] + 1800
    assert by_session.json()["resolution"]["scope"] == GrantScope.SESSION.value


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
    ],
)
async def test_requests_without_the_admin_token_are_refused(
    memory_store: ApprovalStore, admin: httpx2.AsyncClient, headers: dict[str, str], status: int
) -> None:
    approval_id = await pending(memory_store)

    listing = await admin.get("/approvals", headers=headers)
    approving = await admin.post(f"/approvals/{approval_id}/approve", headers=headers)

    assert listing.status_code == approving.status_code == status
    assert listing.headers["www-authenticate"].startswith("Bearer")
    assert (await memory_store.get(approval_id)).status is Status.REQUESTED


async def test_unknown_ids_settled_requests_and_bad_bodies_get_clear_errors(
    memory_store: ApprovalStore, admin: httpx2.AsyncClient
) -> None:
    approval_id = await pending(memory_store)
    await admin.post(f"/approvals/{approval_id}/deny", headers=AUTH, json={"reason": "no"})

    missing = await admin.get("/approvals/ap_nope", headers=AUTH)
    twice = await admin.post(f"/approvals/{approval_id}/approve", headers=AUTH)
    not_json = await admin.post(f"/approvals/{approval_id}/approve", headers=AUTH, content=b"{")
    bad_for = await admin.post(f"/approvals/{approval_id}/approve", headers=AUTH, json={"for": "x"})
    both = await admin.post(
        f"/approvals/{approval_id}/approve", headers=AUTH, json={"for": "1m", "session": True}
    )
    bad_status = await admin.get("/approvals?status=maybe", headers=AUTH)
    bad_action = await admin.post(f"/approvals/{approval_id}/destroy", headers=AUTH)

    assert missing.status_code == 404 and "ap_nope" in missing.json()["error"]
    assert twice.status_code == 409 and twice.json()["approval"]["resolution"]["by"] == "admin"
    assert not_json.status_code == bad_for.status_code == both.status_code == 400
    assert bad_status.status_code == 400
    assert bad_action.status_code in (404, 405)


async def test_remote_clients_are_refused_unless_allowed(memory_store: ApprovalStore) -> None:
    app = build_admin_app(memory_store, token=TOKEN)
    open_app = build_admin_app(memory_store, token=TOKEN, allow_remote=True)
    remote = ("203.0.113.7", 40000)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app, client=remote), base_url="http://admin"
    ) as client:
        refused = await client.get("/approvals", headers=AUTH)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=open_app, client=remote), base_url="http://admin"
    ) as client:
        served = await client.get("/approvals", headers=AUTH)

    assert refused.status_code == 403
    assert served.status_code == 200


def test_an_empty_admin_token_is_refused_at_build_time(memory_store: ApprovalStore) -> None:
    with pytest.raises(ValueError, match="admin token"):
        build_admin_app(memory_store, token="")
