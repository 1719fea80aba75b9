"""`callgate approvals` as a separate process against the store a proxy uses."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from callgate.approvals.broker import ApprovalBroker, ApprovalOutcome, ApprovalSettings
from callgate.approvals.clock import ManualClock
from callgate.approvals.model import GrantScope, Mode, Status
from callgate.approvals.store import ApprovalStore
from callgate.audit import read_records
from callgate.state.approvals_redis import RedisApprovalStore
from callgate.state.approvals_sqlite import SqliteApprovalStore
from tests.approvals.helpers import AGENT, EventLog, call, needs_approval
from tests.fixtures.redis import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ApprovalStore]:
    opened = SqliteApprovalStore(tmp_path / "state.db", poll_interval=0.01)
    yield opened
    await opened.aclose()


async def callgate(*args: str) -> tuple[int, str, str]:
    """Run `python -m callgate ARGS` and return its exit code, stdout and stderr."""
    done = await anyio.run_process(
        [sys.executable, "-m", "callgate", *args], check=False, stdin=None
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def pending_id(store: ApprovalStore) -> str:
    while not (pending := await store.list({Status.REQUESTED})):
        await anyio.sleep(0.01)
    return pending[0].id


async def test_approve_in_another_process_releases_a_waiting_call(
    store: ApprovalStore, state_url: str, tmp_path: Path
) -> None:
    events = EventLog()
    broker = ApprovalBroker(store, clock=ManualClock(time.time()), events=events)
    outcomes: list[ApprovalOutcome] = []

    async def agent_calls() -> None:
        outcomes.append(await broker.judge(call(), AGENT, "s1", needs_approval()))

    audit = tmp_path / "audit"
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            approval_id = await pending_id(store)
            code, out, err = await callgate(
                "approvals", "approve", approval_id, "--state", state_url,
                "--by", "alice", "--reason", "ticket OPS-12", "--audit", str(audit),
            )  # fmt: skip
            assert (code, err) == (0, "")

    assert "approved by alice via cli: ticket OPS-12" in out
    assert outcomes[0].approved and outcomes[0].reason == "approved by alice via cli"
    [logged] = read_records(audit)
    assert logged["event"] == "approval.approved"
    assert (logged["approval_id"], logged["by"], logged["channel"]) == (approval_id, "alice", "cli")
    assert logged["reason"] == "ticket OPS-12"


async def test_deny_in_another_process_gives_the_agent_the_reason(
    store: ApprovalStore, state_url: str
) -> None:
    broker = ApprovalBroker(store, clock=ManualClock(time.time()))
    outcomes: list[ApprovalOutcome] = []

    async def agent_calls() -> None:
        outcomes.append(await broker.judge(call(), AGENT, "s1", needs_approval()))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(agent_calls)
            approval_id = await pending_id(store)
            code, _, err = await callgate(
                "approvals", "deny", approval_id, "--state", state_url,
                "--by", "bob", "--reason", "use the staging bucket",
            )  # fmt: skip
            assert (code, err) == (0, "")

    assert outcomes[0].reason == "denied by bob via cli: use the staging bucket"


async def test_the_cli_approves_through_redis(redis_server: RedisServer) -> None:
    url = redis_server.url(4)
    store = RedisApprovalStore(url)
    try:
        broker = ApprovalBroker(store, settings=ApprovalSettings(mode=Mode.RETRY))
        first = await broker.judge(call(), AGENT, "s1", needs_approval())
        assert first.approval_id is not None

        code, _, err = await callgate(
            "approvals", "approve", first.approval_id, "--state", url, "--session"
        )
        again = await broker.judge(call(), AGENT, "s1", needs_approval())
    finally:
        await store.aclose()

    assert (code, err) == (0, "")
    assert again.approved and again.grant is not None
    assert again.grant.scope is GrantScope.SESSION


async def test_list_and_show_print_the_pending_request(
    store: ApprovalStore, state_url: str
) -> None:
    broker = ApprovalBroker(store, settings=ApprovalSettings(mode=Mode.RETRY))
    first = await broker.judge(call(bucket="prod-logs"), AGENT, "s1", needs_approval())
    assert first.approval_id is not None

    listed = await callgate("approvals", "list", "--state", state_url)
    shown = await callgate("approvals", "show", first.approval_id, "--state", state_url, "--json")

    assert listed[0] == 0
    assert first.approval_id in listed[1] and "delete_bucket" in listed[1]
    assert '"bucket":"prod-logs"' in listed[1].replace(" ", "")
    details = json.loads(shown[1])
    assert details["status"] == "requested"
    assert details["arguments"] == {"bucket": "prod-logs"}
    assert details["rule"] == "approve-deletes"


async def test_approve_for_a_duration_grants_the_same_call_for_that_long(
    store: ApprovalStore, state_url: str
) -> None:
    broker = ApprovalBroker(store, settings=ApprovalSettings(mode=Mode.RETRY))
    first = await broker.judge(call(), AGENT, "s1", needs_approval())
    assert first.approval_id is not None

    code, out, _ = await callgate(
        "approvals", "approve", first.approval_id, "--state", state_url, "--for", "30m"
    )
    decided = await store.get(first.approval_id)

    assert code == 0 and "until" in out
    assert decided.resolution is not None
    assert decided.resolution.scope is GrantScope.DURATION
    assert decided.resolution.until == pytest.approx(decided.resolution.at + 1800)


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["show", "ap_nope"], 1, "no approval with id 'ap_nope'"),
        (["approve", "ap_nope"], 1, "no approval with id 'ap_nope'"),
        (["approve", "ap_x", "--for", "soon"], 2, "--for: expected a duration"),
        (["deny", "ap_x", "--reason", "  "], 2, "deny needs a non-empty --reason"),
    ],
)
async def test_bad_requests_get_a_clear_error_and_change_nothing(
    store: ApprovalStore, state_url: str, arguments: list[str], code: int, message: str
) -> None:
    done = await callgate("approvals", *arguments, "--state", state_url)

    assert done[0] == code
    assert message in done[2]
    assert await store.list(limit=10) == []


async def test_deciding_twice_reports_who_decided_first(
    store: ApprovalStore, state_url: str
) -> None:
    broker = ApprovalBroker(store, settings=ApprovalSettings(mode=Mode.RETRY))
    first = await broker.judge(call(), AGENT, "s1", needs_approval())
    assert first.approval_id is not None
    await callgate(
        "approvals", "deny", first.approval_id, "--state", state_url, "--by", "bob",
        "--reason", "no",
    )  # fmt: skip

    code, _, err = await callgate("approvals", "approve", first.approval_id, "--state", state_url)

    assert code == 1
    assert f"approval {first.approval_id} is already denied by bob via cli" in err


async def test_deny_without_a_reason_is_a_usage_error(state_url: str) -> None:
    code, _, err = await callgate("approvals", "deny", "ap_x", "--state", state_url)
    assert code == 2 and "--reason" in err


async def test_an_unknown_state_url_is_a_usage_error() -> None:
    code, _, err = await callgate("approvals", "list", "--state", "postgres://db")
    assert code == 2 and "unknown state URL" in err
