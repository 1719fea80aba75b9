"""Approval prompts in the agent's own client on 2025-11-25: `elicitation/create` over stdio.

callgate sends the prompt as its own request to the client (the stdio transport's
`Peer.client`) while the call waits; an operator may still answer first, and the client's
prompt is then withdrawn with `notifications/cancelled`.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData

from tests.approvals.proxied import (
    Prompter,
    Setup,
    next_pending,
    operator,
    text_of,
)
from tests.fixtures.servers.commands import stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize(
    ("action", "error", "text"),
    [
        ("accept", False, "charged 500.0 EUR"),
        ("decline", True, "the user declined the call in the client"),
        ("cancel", True, "the user dismissed the approval prompt in the client"),
    ],
)
async def test_the_agents_own_client_decides_on_the_2025_protocol(
    tmp_path: Path, action: str, error: bool, text: str
) -> None:
    setup = Setup(tmp_path, "wait")
    prompter = Prompter(action)
    with anyio.fail_after(60):
        async with Client(
            stdio_params(setup.command(), setup.env), mode="legacy", elicitation_callback=prompter
        ) as client:
            assert client.protocol_version == "2025-11-25"
            small = await client.call_tool("charge", {"amount": 5})
            big = await client.call_tool("charge", {"amount": 500})

    assert text_of(small) == "charged 5.0 EUR"
    assert big.is_error is error
    assert text in text_of(big)
    [prompt] = prompter.prompts
    assert "Rule: big-charges-need-a-human" in prompt.message
    assert "Risk category: financial" in prompt.message


async def test_an_operator_may_answer_before_the_2025_client_does(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    prompt_shown, prompt_withdrawn = anyio.Event(), anyio.Event()

    async def undecided_user(
        context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        prompt_shown.set()
        try:
            await anyio.sleep_forever()
        finally:
            prompt_withdrawn.set()
        raise AssertionError("unreachable")

    results: list[CallToolResult] = []
    with anyio.fail_after(60):
        async with (
            Client(
                stdio_params(setup.command(), setup.env),
                mode="legacy",
                elicitation_callback=undecided_user,
            ) as client,
            anyio.create_task_group() as group,
        ):

            async def agent_calls() -> None:
                results.append(await client.call_tool("charge", {"amount": 400}))

            group.start_soon(agent_calls)
            await prompt_shown.wait()
            pending = await next_pending(setup)
            await operator(setup, "approve", pending.id, "--by", "erin")
            await prompt_withdrawn.wait()

    assert text_of(results[0]) == "charged 400.0 EUR"
