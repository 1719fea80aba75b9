"""stdio keeps its session's counters in memory and the shared ones in the state file.

A stdio session is one `callgate run` process's connection, so its session-scoped
counters never reach the SQLite file; agent-scoped ones do. Both limits still hold.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.e2e.support import UPSTREAM, Setup, verdict
from tests.fixtures.servers.commands import stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
tools:
  work:
    rules:
      - name: two-per-session
        rate_limit: {max: 2, window: hour}
  spend:
    rules:
      - name: three-per-agent
        rate_limit: {max: 3, window: hour, scope: agent}
"""


async def test_session_counters_stay_in_the_process_and_agent_counters_in_the_file(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path, POLICY)
    state = tmp_path / "state.db"
    command = [
        *setup.run_command(f"sqlite:///{state}", tmp_path / "audit.jsonl", "--agent", "bot"),
        "--",
        *UPSTREAM,
        "stdio",
    ]
    params = stdio_params(command, setup.environment())
    with anyio.fail_after(90):
        async with Client(params, mode="legacy") as client:
            work = [verdict(await client.call_tool("work", {"n": n})) for n in range(3)]
            spend = [verdict(await client.call_tool("spend", {"amount": 1})) for _ in range(2)]
        async with Client(params, mode="legacy") as client:  # a new session, same agent
            work_again = [verdict(await client.call_tool("work", {"n": n})) for n in range(3)]
            spend_again = [
                verdict(await client.call_tool("spend", {"amount": 1})) for _ in range(2)
            ]

    assert work == ["allow", "allow", "rate_limited"]
    assert work_again == ["allow", "allow", "rate_limited"]  # each session has its own two
    assert spend + spend_again == ["allow", "allow", "allow", "rate_limited"]  # shared three
    with sqlite3.connect(state) as db:
        keys = {key for (key,) in db.execute("SELECT DISTINCT key FROM events")}
    assert keys and all("|agent:bot|" in key for key in keys), keys
