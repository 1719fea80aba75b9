"""One contract for every approval store backend: memory, SQLite file, real Redis."""

from __future__ import annotations

import anyio
import pytest

from callgate.approvals.model import GrantScope, Resolution, Status
from callgate.approvals.store import ApprovalConflict, ApprovalNotFound, ApprovalStore
from tests.approvals.conftest import StoreFactory
from tests.approvals.helpers import NOW, call, request_for

pytestmark = pytest.mark.anyio


def approved(
    at: float = NOW + 1, scope: GrantScope = GrantScope.ONCE, until: float | None = None
) -> Resolution:
    return Resolution(Status.APPROVED, "alice", "cli", "looks fine", at, scope=scope, until=until)


async def test_a_created_request_reads_back_with_its_exact_arguments(store: ApprovalStore) -> None:
    the_call = call(bucket="prod", amount=0.1, big=12345678901234567890, tags=["a", "ü"])
    await store.create(request_for("ap_1", the_call))

    approval = await store.get("ap_1")

    assert approval.status is Status.REQUESTED
    assert approval.request.arguments == the_call.arguments
    assert approval.request.expires_at == NOW + 60


async def test_an_unknown_id_is_reported_as_not_found(store: ApprovalStore) -> None:
    with pytest.raises(ApprovalNotFound):
        await store.get("ap_missing")
    with pytest.raises(ApprovalNotFound):
        await store.resolve("ap_missing", approved())


async def test_the_first_answer_wins_and_the_second_sees_it(store: ApprovalStore) -> None:
    await store.create(request_for("ap_1"))
    await store.resolve("ap_1", approved())

    with pytest.raises(ApprovalConflict) as conflict:
        await store.resolve("ap_1", Resolution(Status.DENIED, "bob", "cli", "no", NOW + 2))

    assert conflict.value.current.status is Status.APPROVED
    assert conflict.value.current.resolution is not None
    assert conflict.value.current.resolution.by == "alice"


async def test_an_approval_is_consumed_exactly_once(store: ApprovalStore) -> None:
    await store.create(request_for("ap_1"))
    await store.resolve("ap_1", approved())

    consumed = await store.consume("ap_1", NOW + 3)

    assert consumed.status is Status.CONSUMED
    assert (await store.get("ap_1")).consumed_at == NOW + 3
    with pytest.raises(ApprovalConflict):
        await store.consume("ap_1", NOW + 4)


async def test_a_pending_request_cannot_be_consumed(store: ApprovalStore) -> None:
    await store.create(request_for("ap_1"))
    with pytest.raises(ApprovalConflict):
        await store.consume("ap_1", NOW + 1)


async def test_latest_for_finds_the_newest_request_of_a_fingerprint(store: ApprovalStore) -> None:
    first, second = request_for("ap_1"), request_for("ap_2", created=NOW + 5)
    other = request_for("ap_3", call(bucket="staging"))
    for request in (first, second, other):
        await store.create(request)

    latest = await store.latest_for(first.fingerprint)

    assert latest is not None and latest.id == "ap_2"
    assert await store.latest_for("0" * 64) is None


async def test_list_is_newest_first_and_filters_by_status(store: ApprovalStore) -> None:
    for index in range(3):
        await store.create(request_for(f"ap_{index}", call(n=index), created=NOW + index))
    await store.resolve("ap_1", approved())

    everything = await store.list()
    pending = await store.list({Status.REQUESTED})

    assert [a.id for a in everything] == ["ap_2", "ap_1", "ap_0"]
    assert [a.id for a in pending] == ["ap_2", "ap_0"]
    assert [a.id for a in await store.list(limit=1)] == ["ap_2"]


async def test_a_session_grant_covers_that_session_only(store: ApprovalStore) -> None:
    request = request_for("ap_1")
    await store.create(request)
    await store.resolve("ap_1", approved(scope=GrantScope.SESSION))

    grant = await store.find_grant(request.fingerprint, "session-1", NOW + 100)

    assert grant is not None and grant.scope is GrantScope.SESSION and grant.by == "alice"
    assert await store.find_grant(request.fingerprint, "session-2", NOW + 100) is None
    other = request_for("ap_2", call(bucket="staging"))
    assert await store.find_grant(other.fingerprint, "session-1", NOW + 100) is None


async def test_a_duration_grant_ends_at_its_time(store: ApprovalStore) -> None:
    request = request_for("ap_1")
    await store.create(request)
    await store.resolve("ap_1", approved(scope=GrantScope.DURATION, until=NOW + 1800))

    assert await store.find_grant(request.fingerprint, "any-session", NOW + 1799) is not None
    assert await store.find_grant(request.fingerprint, "any-session", NOW + 1800) is None


async def test_a_once_approval_makes_no_standing_grant(store: ApprovalStore) -> None:
    request = request_for("ap_1")
    await store.create(request)
    await store.resolve("ap_1", approved())

    assert await store.find_grant(request.fingerprint, "session-1", NOW + 2) is None


async def test_a_waiter_wakes_when_another_handle_resolves(store_factory: StoreFactory) -> None:
    waiting_side, answering_side = store_factory(), store_factory()
    await waiting_side.create(request_for("ap_1"))
    seen: list[Status] = []

    async def wait() -> None:
        seen.append((await waiting_side.wait_resolved("ap_1")).status)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await answering_side.resolve("ap_1", approved())

    assert seen == [Status.APPROVED]


async def test_a_pending_request_survives_reopening_the_store(store_factory: StoreFactory) -> None:
    before = store_factory()
    await before.create(request_for("ap_1"))
    await before.aclose()
    after = store_factory()

    approval = await after.get("ap_1")

    assert approval.status is Status.REQUESTED


async def test_list_returns_every_approval_past_one_batch(store: ApprovalStore) -> None:
    for index in range(230):
        await store.create(request_for(f"ap_{index:03}", call(n=index), created=NOW + index))

    listed = await store.list(limit=1000)

    assert len(listed) == 230
    assert listed[0].id == "ap_229" and listed[-1].id == "ap_000"
