"""Who is calling: sessions, agents and their limits through real `callgate run` processes.

Over HTTP, agents authenticate with the bearer tokens of the policy's `agents:`; a session
is the `Mcp-Session-Id` (2025-11-25) or the agent plus its `Callgate-Session` header
(2026-07-28). Over stdio the agent is `--agent NAME`, by default the upstream's name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult

from callgate.audit import read_records
from tests.e2e.support import (
    UPSTREAM,
    Setup,
    callgate_listening,
    connect,
    decision_meta,
    http_upstream,
    seen,
    text_of,
    verdict,
)
from tests.fixtures.servers.commands import stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ALICE_SHA256 = hashlib.sha256(b"alice-token").hexdigest()

LIMITS = f"""\
version: "1"
agents:
  - {{name: alice, roles: [builder], token_sha256: {ALICE_SHA256}}}
  - {{name: bob, token_env: BOB_TOKEN}}
tools:
  work:
    rules:
      - name: per-session
        rate_limit: {{max: 3, window: hour}}
      - name: per-agent
        rate_limit: {{max: 5, window: hour, scope: agent}}
"""

MCP_POST = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "work"}}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_sessions_have_their_own_limit_and_an_agent_shares_one(
    tmp_path: Path, mode: str
) -> None:
    setup = Setup(tmp_path, LIMITS, env={"BOB_TOKEN": "bob-token"})

    async def calls(url: str, token: str, key: str, count: int) -> list[tuple[str, str | None]]:
        outcomes: list[tuple[str, str | None]] = []
        async with connect(url, token=token, session_key=key, mode=mode) as client:
            for n in range(count):
                outcomes.append(_outcome(await client.call_tool("work", {"n": n})))
        return outcomes

    with anyio.fail_after(90):
        async with (
            http_upstream() as upstream,
            callgate_listening(setup, "memory://", upstream) as gate,
        ):
            first = await calls(gate.url, "alice-token", "one", 4)
            second = await calls(gate.url, "alice-token", "two", 3)
            other = await calls(gate.url, "bob-token", "one", 4)
            ran = await seen(upstream)

    allowed = ("allow", None)
    by_session, by_agent = ("rate_limited", "per-session"), ("rate_limited", "per-agent")
    assert first == [allowed] * 3 + [by_session]  # alice's first session: its own 3
    assert second == [allowed] * 2 + [by_agent]  # alice's second: the agent's 5 are used up
    assert other == [allowed] * 3 + [by_session]  # bob: his own agent limit
    assert ran["work"] == 8
    records = [r for r in gate.audit() if r["method"] == "tools/call"]
    sessions: dict[str, set[str]] = {r["agent"]: set() for r in records}
    for record in records:
        sessions[record["agent"]].add(record["session"])
    assert {agent: len(keys) for agent, keys in sessions.items()} == {"alice": 2, "bob": 1}
    if mode == "auto":  # stateless: the agent plus the client's Callgate-Session key
        assert sessions == {"alice": {"alice/one", "alice/two"}, "bob": {"bob/one"}}


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _rule(result: CallToolResult) -> str:
    return str(decision_meta(result)["rule"])


async def test_a_bad_or_missing_token_is_refused_audited_and_never_forwarded(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path, LIMITS, env={"BOB_TOKEN": "bob-token"})
    with anyio.fail_after(90):
        async with (
            http_upstream() as upstream,
            callgate_listening(setup, "memory://", upstream) as gate,
        ):
            async with httpx2.AsyncClient(timeout=30) as http:
                missing = await http.post(gate.url, json=CALL, headers=MCP_POST)
                wrong = await http.post(
                    gate.url, json=CALL, headers={**MCP_POST, "Authorization": "Bearer nope"}
                )
                not_bearer = await http.post(
                    gate.url, json=CALL, headers={**MCP_POST, "Authorization": "Basic YTpi"}
                )
            with pytest.raises(BaseException) as refused:  # the SDK wraps it in groups
                async with connect(gate.url, token="alice-tokem") as client:
                    await client.call_tool("work", {})
            async with connect(gate.url, token="alice-token") as client:
                assert text_of(await client.call_tool("work", {"n": 7})) == "worked 7"
            ran = await seen(upstream)

    assert [r.status_code for r in (missing, wrong, not_bearer)] == [401, 401, 401]
    assert [str(error) for error in _leaves(refused.value)] == [
        "unknown or missing agent credentials"
    ]
    assert "agent credentials" in missing.json()["error"]["message"]
    assert ran["work"] == 1  # only alice's call
    refusals = [r for r in gate.audit() if r["method"] == "auth"]
    assert len(refusals) >= 4
    assert {r["decision"] for r in refusals} == {"deny"}
    reasons = [r["reason"] for r in refusals]
    assert reasons[:3] == ["missing bearer token", "unknown bearer token", "missing bearer token"]
    assert all("alice-tokem" not in str(r) and "nope" not in str(r) for r in refusals)


AGENT_RULE = """\
version: "1"
tools:
  work:
    rules:
      - name: release-bot-only
        conditions:
          - {path: agent.name, op: eq, value: release-bot}
        on_deny: only the release bot may work
"""


@pytest.mark.parametrize(
    ("flags", "agent", "expected"),
    [
        (["--agent", "release-bot"], "release-bot", "allow"),
        (["--agent", "intruder"], "intruder", "deny"),
        ([], "tests.e2e.upstream", "deny"),  # no --agent: the upstream's name
    ],
)
async def test_stdio_agent_is_named_by_the_agent_flag(
    tmp_path: Path, flags: list[str], agent: str, expected: str
) -> None:
    setup = Setup(tmp_path, AGENT_RULE)
    audit = tmp_path / "audit"
    command = [*setup.run_command("memory://", audit, *flags), "--", *UPSTREAM, "stdio"]
    with anyio.fail_after(60):
        async with Client(stdio_params(command, setup.environment()), mode="legacy") as client:
            result = await client.call_tool("work", {"n": 1})

    assert verdict(result) == expected
    if expected == "deny":
        assert text_of(result) == (
            '[callgate] denied by rule "release-bot-only": only the release bot may work'
        )
    [record] = read_records(audit)
    assert (record["agent"], record["decision"], record["server"]) == (
        agent,
        expected,
        "tests.e2e.upstream",
    )


async def test_a_listener_beyond_loopback_needs_agents(tmp_path: Path) -> None:
    setup = Setup(tmp_path, AGENT_RULE)  # no agents:
    command = setup.run_command("memory://", tmp_path / "audit.jsonl", "--listen", "0.0.0.0:0")
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [*command, "--", *UPSTREAM, "stdio"], check=False, env=setup.environment()
        )
    assert done.returncode == 2
    assert b"beyond loopback: the policy must name its agents" in done.stderr


async def test_stdio_connections_are_sessions_and_an_agent_spans_them(tmp_path: Path) -> None:
    """Two `callgate run` stdio processes of one agent on one SQLite file: each connection
    has its own session limit, and they share the agent's."""
    setup = Setup(tmp_path, LIMITS)
    command = setup.run_command(
        f"sqlite:///{tmp_path / 'state.db'}", tmp_path / "audit.jsonl", "--agent", "ci-bot"
    )
    params = stdio_params([*command, "--", *UPSTREAM, "stdio"], setup.environment())
    with anyio.fail_after(90):
        async with (
            Client(params, mode="legacy") as first,
            Client(params, mode="legacy") as second,
        ):
            one = [_outcome(await first.call_tool("work", {"n": n})) for n in range(4)]
            two = [_outcome(await second.call_tool("work", {"n": n})) for n in range(3)]

    allowed = ("allow", None)
    assert one == [allowed] * 3 + [("rate_limited", "per-session")]
    assert two == [allowed] * 2 + [("rate_limited", "per-agent")]


def _outcome(result: CallToolResult) -> tuple[str, str | None]:
    outcome = verdict(result)
    return outcome, None if outcome == "allow" else _rule(result)


ROLES = f"""\
version: "1"
agents:
  - {{name: alice, roles: [builder], token_sha256: {ALICE_SHA256}}}
  - {{name: bob, token_env: BOB_TOKEN}}
tools:
  spend:
    rules:
      - name: builders-spend
        conditions:
          - {{path: agent.roles, op: contains, value: builder}}
        on_deny: only builders may spend
"""


async def test_agent_roles_from_the_policy_reach_conditions(tmp_path: Path) -> None:
    setup = Setup(tmp_path, ROLES, env={"BOB_TOKEN": "bob-token"})
    with anyio.fail_after(90):
        async with (
            http_upstream() as upstream,
            callgate_listening(setup, "memory://", upstream) as gate,
        ):
            async with connect(gate.url, token="alice-token", mode="auto") as client:
                alice = await client.call_tool("spend", {"amount": 1})
            async with connect(gate.url, token="bob-token", mode="auto") as client:
                bob = await client.call_tool("spend", {"amount": 1})
            ran = await seen(upstream)

    assert text_of(alice) == "spent 1.0"
    assert decision_meta(bob)["reason"] == "only builders may spend"
    assert ran["spend"] == 1
    assert [(r["agent"], r["decision"]) for r in gate.audit()] == [
        ("alice", "allow"),
        ("bob", "deny"),
    ]
