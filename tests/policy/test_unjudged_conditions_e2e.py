"""A call its approval rule cannot judge asks for approval through a real `callgate run`.

The official SDK client (with an elicitation prompt) -> `callgate run` -> the SDK fixture
server, under "approval when `args.amount gt 100`". Before the fix, a charge without an
amount (or with the amount as a string) skipped approval and went straight upstream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from mcp import Client

from callgate.audit import read_records
from tests.approvals.proxied import Prompter, Setup, text_of
from tests.fixtures.servers.commands import stdio_params

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_call_missing_the_argument_its_approval_rule_reads_asks_for_approval(
    mode: str, tmp_path: Path
) -> None:
    setup = Setup(tmp_path, "wait")
    prompter = Prompter("decline")
    with anyio.fail_after(60):
        async with Client(
            stdio_params(setup.command(), setup.env), mode=mode, elicitation_callback=prompter
        ) as client:
            small = await client.call_tool("charge", {"amount": 5})
            missing = await client.call_tool("charge", {"currency": "USD"})
            mistyped = await client.call_tool("charge", {"amount": "500"})

    assert (small.is_error, text_of(small)) == (False, "charged 5.0 EUR")
    for refused in (missing, mistyped):
        assert refused.is_error
        assert "the user declined the call in the client" in text_of(refused)
    # The judged small charge asked nobody; each call the rule could not judge was asked.
    asked = [prompt.message for prompt in prompter.prompts]
    assert len(asked) == 2
    assert all("Rule: big-charges-need-a-human" in message for message in asked)
    assert '"currency": "USD"' in asked[0]
    assert '"amount": "500"' in asked[1]
    kinds = [event["event"] for event in setup.audit_events()]
    assert kinds == ["approval.requested", "approval.denied"] * 2
    # Nothing but the small charge was allowed (2026 adds an input_required round each).
    records = read_records(setup.audit)
    decisions = [(r["decision"], r["rule"]) for r in records if "decision" in r]
    asked_rule = "big-charges-need-a-human"
    assert decisions[0] == ("allow", None)
    assert set(decisions[1:]) <= {("approval_required", asked_rule), ("deny", asked_rule)}
    assert decisions.count(("deny", asked_rule)) == 2
