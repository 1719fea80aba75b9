"""Require approval end to end: the official SDK client -> a real `callgate run` -> a real server.

Approvals come from the agent's own client (2026-07-28 `input_required` elicitation), or
from an operator running `callgate approvals` as a separate process on the same store.
"""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from callgate.approvals.model import Status
from callgate.state.approvals_redis import RedisApprovalStore
from callgate.state.approvals_sqlite import SqliteApprovalStore
from tests.approvals.proxied import Prompter, Setup, next_pending, operator, text_of
from tests.fixtures.peers import callgate_listener
from tests.fixtures.redis import RedisServer
from tests.fixtures.servers.commands import SDK_SERVER, stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize(
    ("action", "error", "text"),
    [
        ("accept", False, "charged 500.0 EUR"),
        ("decline", True, "the user declined the call in the client"),
        ("cancel", True, "the user dismissed the approval prompt in the client"),
    ],
)
async def test_the_agents_own_client_decides_on_the_2026_protocol(
    tmp_path: Path, action: str, error: bool, text: str
) -> None:
    setup = Setup(tmp_path, "wait")
    prompter = Prompter(action)
    with anyio.fail_after(60):
        async with Client(
            stdio_params(setup.command(), setup.env), elicitation_callback=prompter
        ) as client:
            assert client.protocol_version == "2026-07-28"
            small = await client.call_tool("charge", {"amount": 5})
            big = await client.call_tool("charge", {"amount": 500})

    assert text_of(small) == "charged 5.0 EUR"
    assert big.is_error is error
    assert text in text_of(big)
    [prompt] = prompter.prompts  # the small charge needed no approval: no prompt
    assert "Tool: charge on server" in prompt.message
    assert '"amount": 500' in prompt.message
    assert "Rule: big-charges-need-a-human" in prompt.message
    assert "Risk category: financial" in prompt.message
    kinds = [e["event"] for e in setup.audit_events()]
    expected = [
        "approval.requested",
        "approval.approved" if action == "accept" else "approval.denied",
    ]
    assert kinds[: len(expected)] == expected
    if action == "accept":
        assert kinds[2] == "approval.consumed"


async def test_a_client_without_elicitation_waits_for_the_operators_cli(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    results: list[CallToolResult] = []
    with anyio.fail_after(60):
        async with (
            Client(stdio_params(setup.command(), setup.env), mode="legacy") as client,
            anyio.create_task_group() as group,
        ):

            async def agent_calls() -> None:
                results.append(await client.call_tool("charge", {"amount": 250}))

            group.start_soon(agent_calls)
            pending = await next_pending(setup)
            assert pending.request.arguments == {"amount": 250}
            assert pending.request.agent == "billing-bot"
            assert results == []
            await operator(setup, "approve", pending.id, "--by", "alice")

    assert text_of(results[0]) == "charged 250.0 EUR"
    events = setup.audit_events()
    assert [e["event"] for e in events] == ["approval.requested", "approval.consumed"]
    assert events[1]["by"] == "alice" and events[1]["channel"] == "cli"


async def test_the_operators_denial_reaches_the_waiting_agent(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    results: list[CallToolResult] = []
    with anyio.fail_after(60):
        async with (
            Client(stdio_params(setup.command(), setup.env), mode="legacy") as client,
            anyio.create_task_group() as group,
        ):

            async def agent_calls() -> None:
                results.append(await client.call_tool("charge", {"amount": 250}))

            group.start_soon(agent_calls)
            pending = await next_pending(setup)
            await operator(setup, "deny", pending.id, "--by", "bob", "--reason", "over budget")

    assert results[0].is_error
    assert text_of(results[0]) == (
        '[callgate] denied by rule "big-charges-need-a-human": denied by bob via cli: over budget'
    )


async def test_retry_mode_answers_at_once_and_lets_the_same_call_through_once(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path, "retry")
    with anyio.fail_after(60):
        async with Client(stdio_params(setup.command(), setup.env), mode="legacy") as client:
            first = await client.call_tool("charge", {"amount": 300})
            match = re.search(r"approval (ap_\S+) requested", text_of(first))
            assert first.is_error and match is not None
            approval_id = match.group(1)
            await operator(setup, "approve", approval_id)
            changed = await client.call_tool("charge", {"amount": 301})
            retried = await client.call_tool("charge", {"amount": 300})
            again = await client.call_tool("charge", {"amount": 300})

    assert changed.is_error and approval_id not in text_of(changed)
    assert (retried.is_error, text_of(retried)) == (False, "charged 300.0 EUR")
    assert again.is_error and "requested" in text_of(again)
    assert approval_id not in text_of(again)


async def test_a_pending_request_survives_a_proxy_restart(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "retry")
    with anyio.fail_after(60):
        async with Client(stdio_params(setup.command(), setup.env), mode="legacy") as client:
            first = await client.call_tool("charge", {"amount": 300})
        approval_id = (await next_pending(setup)).id
        assert approval_id in text_of(first)
        await operator(setup, "approve", approval_id, "--by", "alice")
        async with Client(stdio_params(setup.command(), setup.env), mode="legacy") as client:
            retried = await client.call_tool("charge", {"amount": 300})

    assert (retried.is_error, text_of(retried)) == (False, "charged 300.0 EUR")


async def test_cancelling_a_waiting_call_withdraws_its_request(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    with anyio.fail_after(60):
        async with Client(stdio_params(setup.command(), setup.env), mode="legacy") as client:
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "charge", {"amount": 250})
                pending = await next_pending(setup)
                group.cancel_scope.cancel()
            store = SqliteApprovalStore(setup.state)
            try:
                while (await store.get(pending.id)).status is Status.REQUESTED:
                    await anyio.sleep(0.02)
                withdrawn = await store.get(pending.id)
            finally:
                await store.aclose()
            still_working = await client.call_tool("charge", {"amount": 1})

    assert withdrawn.status is Status.WITHDRAWN
    assert text_of(still_working) == "charged 1.0 EUR"


async def test_two_proxies_on_one_redis_share_approvals(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = redis_server.url(7)
    setup = Setup(tmp_path, "retry", state_url=url)
    (tmp_path / "wait").mkdir()
    waiting = Setup(tmp_path / "wait", "wait", state_url=url)
    results: list[CallToolResult] = []
    store = RedisApprovalStore(url)
    try:
        with anyio.fail_after(60):
            async with (
                Client(stdio_params(setup.command(), setup.env), mode="legacy") as one,
                Client(stdio_params(setup.command(), setup.env), mode="legacy") as two,
            ):
                first = await one.call_tool("charge", {"amount": 300})
                match = re.search(r"approval (ap_\S+) requested", text_of(first))
                assert match is not None
                await operator(setup, "approve", match.group(1))
                through_two = await two.call_tool("charge", {"amount": 300})
                again_one = await one.call_tool("charge", {"amount": 300})

            async with (
                Client(stdio_params(waiting.command(), waiting.env), mode="legacy") as held,
                anyio.create_task_group() as group,
            ):

                async def agent_calls() -> None:
                    results.append(await held.call_tool("charge", {"amount": 999}))

                group.start_soon(agent_calls)
                while not (
                    held_calls := [
                        p
                        for p in await store.list({Status.REQUESTED})
                        if p.request.arguments == {"amount": 999}
                    ]
                ):
                    await anyio.sleep(0.02)
                [request] = held_calls
                await operator(waiting, "approve", request.id, "--by", "carol")
    finally:
        await store.aclose()

    assert (through_two.is_error, text_of(through_two)) == (False, "charged 300.0 EUR")
    assert again_one.is_error and match.group(1) not in text_of(again_one)
    assert text_of(results[0]) == "charged 999.0 EUR"


@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_the_client_decides_over_streamable_http(tmp_path: Path, action: str) -> None:
    setup = Setup(tmp_path, "wait")
    prompter = Prompter(action)
    files = ("--state", setup.state_url, "--audit", str(setup.audit))
    with callgate_listener(setup.policy, SDK_SERVER, tmp_path / "callgate.log", *files) as url:
        with anyio.fail_after(60):
            async with Client(streamable_http_client(url), elicitation_callback=prompter) as client:
                assert client.protocol_version == "2026-07-28"
                big = await client.call_tool("charge", {"amount": 700})

    assert len(prompter.prompts) == 1
    if action == "accept":
        assert (big.is_error, text_of(big)) == (False, "charged 700.0 EUR")
    else:
        assert big.is_error and "declined" in text_of(big)


async def test_a_legacy_http_client_is_released_by_the_operator(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    results: list[CallToolResult] = []
    files = ("--state", setup.state_url, "--audit", str(setup.audit))
    with callgate_listener(setup.policy, SDK_SERVER, tmp_path / "callgate.log", *files) as url:
        with anyio.fail_after(60):
            async with (
                Client(streamable_http_client(url), mode="legacy") as client,
                anyio.create_task_group() as group,
            ):

                async def agent_calls() -> None:
                    results.append(await client.call_tool("charge", {"amount": 800}))

                group.start_soon(agent_calls)
                pending = await next_pending(setup)
                await operator(setup, "approve", pending.id, "--by", "dana")

    assert text_of(results[0]) == "charged 800.0 EUR"
