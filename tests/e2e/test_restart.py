"""Counters outlive the callgate process: SQLite and Redis keep them across a restart.

Each `async with Client(...)` below is one `callgate run` process (stdio, the upstream its
child); the second one starts after the first has exited, on the same state.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.e2e.conftest import state_url_for
from tests.e2e.support import UPSTREAM, Setup, decision_meta, text_of, verdict
from tests.fixtures.servers.commands import stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
tools:
  work:
    rules:
      - name: three-an-hour
        rate_limit: {max: 3, window: hour, scope: agent}
  spend:
    rules:
      - name: budget
        conditions:
          - {path: state.spend.spent, op: lte, value: 10}
        on_deny: the budget of 10 is used up
        state:
          counter: spent
          window: day
          increment_from: args.amount
"""


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return state_url_for(request.param, request, tmp_path)


async def test_a_rate_limit_and_a_spend_counter_survive_a_restart(
    tmp_path: Path, state_url: str
) -> None:
    setup = Setup(tmp_path, POLICY)
    audit = tmp_path / "audit.jsonl"
    command = [
        *setup.run_command(state_url, audit, "--agent", "ci-bot"),
        "--",
        *UPSTREAM,
        "stdio",
    ]
    params = stdio_params(command, setup.environment())
    with anyio.fail_after(90):
        async with Client(params, mode="legacy") as client:
            first_run = [verdict(await client.call_tool("work", {"n": n})) for n in range(2)]
            spent = await client.call_tool("spend", {"amount": 6})
        async with Client(params, mode="legacy") as client:  # a new callgate process
            second_run = [verdict(await client.call_tool("work", {"n": n})) for n in range(2)]
            too_much = await client.call_tool("spend", {"amount": 5})
            the_rest = await client.call_tool("spend", {"amount": 4})

    assert first_run == ["allow", "allow"]
    assert text_of(spent) == "spent 6.0"
    assert second_run == ["allow", "rate_limited"]  # 2 before the restart + 1 = 3
    assert decision_meta(too_much)["reason"] == "the budget of 10 is used up"  # 6 + 5 > 10
    assert text_of(the_rest) == "spent 4.0"  # 6 + 4 = 10 exactly
