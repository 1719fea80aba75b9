"""Approval channels on the HTTP listener and progress while a call waits.

- The operators' admin API mounted on `callgate run --listen` under `/admin`, behind its own
  token (`--admin-token-env`): list, show, approve and deny release a call an SDK client
  holds open; agent and admin tokens never open each other's door.
- `notifications/progress` while a call waits, where the request carried a progress token:
  on stdio and over HTTP, in both protocol generations.
- 2025-11-25 approval prompts (`elicitation/create`) over the listener and through the
  stdio-to-HTTP bridge.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from tests.approvals.proxied import Prompter, Setup, next_pending, operator, text_of
from tests.fixtures.peers import running, wait_for_logged_url
from tests.fixtures.servers.commands import CALLGATE, SDK_SERVER, stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

AGENT_TOKEN = "agent-secret-token"
ADMIN_TOKEN = "admin-secret-token"
AGENTS = f"""\
agents:
  - {{name: billing-bot, token_sha256: {hashlib.sha256(AGENT_TOKEN.encode()).hexdigest()}}}
"""
PROGRESS = ("--approval-progress", "0.05")


@contextmanager
def listener(setup: Setup, *extra: str, upstream: list[str] | str = SDK_SERVER) -> Iterator[str]:
    """`callgate run --listen` with the setup's policy, state and audit; yields its base URL.

    It binds port 0 and announces its URL, so parallel test workers never race for a port."""
    target = ["--upstream", upstream] if isinstance(upstream, str) else ["--", *upstream]
    command = [
        *CALLGATE, "run", "-c", str(setup.policy), "--listen", "127.0.0.1:0",
        "--state", setup.state_url, "--audit", str(setup.audit), *extra, *target,
    ]  # fmt: skip
    env = {**setup.env, "CALLGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    log = setup.audit.with_name(f"callgate-{uuid.uuid4().hex[:8]}.log")
    with running(command, log, env) as process:
        yield wait_for_logged_url(process, log).removesuffix("/mcp")


@asynccontextmanager
async def agent_client(base: str, mode: str, **kwargs: Any) -> AsyncIterator[Client]:
    """An SDK client over Streamable HTTP holding the agent's bearer token."""
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(
            streamable_http_client(f"{base}/mcp", http_client=http),
            mode=mode,
            **kwargs,
        ) as client,
    ):
        yield client


class Progress:
    """A progress callback remembering each message; `seen` is set at the first."""

    def __init__(self) -> None:
        self.updates: list[tuple[float, str | None]] = []
        self.seen = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates.append((progress, message))
        self.seen.set()

    async def until(self, count: int) -> None:
        while len(self.updates) < count:
            self.seen = anyio.Event()
            await self.seen.wait()

    def approval_id(self) -> str:
        message = self.updates[0][1]
        assert message is not None and message.startswith("waiting for approval ap_")
        return message.removeprefix("waiting for approval ")


def charge_in_background(
    group: anyio.abc.TaskGroup,
    client: Client,
    amount: int,
    results: list[CallToolResult],
    progress: Progress,
) -> None:
    """The agent calls `charge` (which needs approval) in a task of its own."""

    async def agent_calls() -> None:
        call = client.call_tool("charge", {"amount": amount}, progress_callback=progress)
        results.append(await call)

    group.start_soon(agent_calls)


def admin(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("verdict", ["approve", "deny"])
async def test_the_admin_api_on_the_listener_decides_a_waiting_call(
    tmp_path: Path, mode: str, verdict: str
) -> None:
    setup = Setup(tmp_path, "wait")
    setup.policy.write_text(setup.policy.read_text() + AGENTS)
    progress = Progress()
    results: list[CallToolResult] = []
    flags = ("--admin-token-env", "CALLGATE_ADMIN_TOKEN", *PROGRESS)
    with listener(setup, *flags) as base, anyio.fail_after(60):
        async with (
            agent_client(base, mode) as client,
            httpx2.AsyncClient(base_url=f"{base}/admin", timeout=30) as http,
            anyio.create_task_group() as group,
        ):
            charge_in_background(group, client, 800, results, progress)
            await progress.until(1)
            approval_id = progress.approval_id()
            listed = await http.get("/approvals", headers=admin())
            shown = await http.get(f"/approvals/{approval_id}", headers=admin())
            with_agent_token = await http.get("/approvals", headers=admin(AGENT_TOKEN))
            without_token = await http.get("/approvals")
            body = {"by": "olga", "reason": "over budget"}
            decided = await http.post(f"/approvals/{approval_id}/{verdict}", json=body)
            assert decided.status_code == 401  # no token: nothing decided
            decided = await http.post(
                f"/approvals/{approval_id}/{verdict}", json=body, headers=admin()
            )

    assert [a["id"] for a in listed.json()["approvals"]] == [approval_id]
    assert shown.json()["tool"] == "charge" and shown.json()["arguments"] == {"amount": 800}
    assert (with_agent_token.status_code, without_token.status_code) == (401, 401)
    assert decided.status_code == 200
    if verdict == "approve":
        assert (results[0].is_error, text_of(results[0])) == (False, "charged 800.0 EUR")
    else:
        assert results[0].is_error
        assert "denied by olga via admin-api: over budget" in text_of(results[0])
    event = {"approve": "approval.approved", "deny": "approval.denied"}[verdict]
    decided_events = [e for e in setup.audit_events() if e["event"] == event]
    assert [(e["by"], e["channel"]) for e in decided_events] == [("olga", "admin-api")]


async def test_the_admin_token_does_not_open_the_agents_endpoint(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    setup.policy.write_text(setup.policy.read_text() + AGENTS)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    with listener(setup, "--admin-token-env", "CALLGATE_ADMIN_TOKEN") as base:
        async with httpx2.AsyncClient(timeout=30) as http:
            as_admin = await http.post(
                f"{base}/mcp", json=initialize, headers={**accept, **admin()}
            )
            as_agent = await http.post(
                f"{base}/mcp", json=initialize, headers={**accept, **admin(AGENT_TOKEN)}
            )
            rebound = await http.get(
                f"{base}/admin/approvals", headers={**admin(), "Host": "evil.example"}
            )

    assert as_admin.status_code == 401
    assert as_agent.status_code == 200
    assert rebound.status_code == 421  # the listener's DNS-rebinding check covers /admin


async def test_without_an_admin_token_there_is_no_admin_api(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    with listener(setup) as base:
        async with httpx2.AsyncClient(timeout=30) as http:
            answer = await http.get(f"{base}/admin/approvals", headers=admin())
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--admin-token-env", "CALLGATE_UNSET_ADMIN_TOKEN"), "is unset or empty"),
        (("--admin-allow-remote",), "needs --admin-token-env"),
        (("--approval-progress", "0"), "above 0"),
    ],
)
async def test_bad_admin_and_progress_options_stop_at_start_up(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    setup = Setup(tmp_path, "wait")
    command = [
        *CALLGATE, "run", "-c", str(setup.policy), "--listen", "127.0.0.1:0", *flags,
        "--", *SDK_SERVER,
    ]  # fmt: skip
    env = {k: v for k, v in setup.env.items() if k != "CALLGATE_UNSET_ADMIN_TOKEN"}
    done = await anyio.run_process(command, check=False, env=env)
    assert done.returncode == 2
    assert message in done.stderr.decode()


async def test_an_admin_token_equal_to_an_agents_token_is_refused(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    setup.policy.write_text(setup.policy.read_text() + AGENTS)
    command = [
        *CALLGATE, "run", "-c", str(setup.policy), "--listen", "127.0.0.1:0",
        "--admin-token-env", "SAME_TOKEN", "--state", setup.state_url, "--", *SDK_SERVER,
    ]  # fmt: skip
    done = await anyio.run_process(
        command, check=False, env={**setup.env, "SAME_TOKEN": AGENT_TOKEN}
    )
    assert done.returncode == 2
    assert "must differ from every agent's token" in done.stderr.decode()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_call_waiting_on_stdio_reports_progress_until_decided(
    tmp_path: Path, mode: str
) -> None:
    setup = Setup(tmp_path, "wait")
    progress = Progress()
    results: list[CallToolResult] = []
    command = setup.command()
    command[command.index("--"):command.index("--")] = PROGRESS  # fmt: skip
    with anyio.fail_after(60):
        async with (
            Client(stdio_params(command, setup.env), mode=mode) as client,
            anyio.create_task_group() as group,
        ):
            charge_in_background(group, client, 600, results, progress)
            await progress.until(3)  # it keeps coming while the call waits
            pending = await next_pending(setup)
            await operator(setup, "approve", pending.id, "--by", "pat")

    assert progress.approval_id() == pending.id
    beats = [beat for beat, _ in progress.updates]
    assert beats == sorted(set(beats))  # strictly increasing
    assert text_of(results[0]) == "charged 600.0 EUR"


@contextmanager
def open_upstream(tmp_path: Path) -> Iterator[str]:
    """An HTTP MCP server with the `charge` tool: callgate letting everything by."""
    (tmp_path / "up").mkdir()
    inner = Setup(tmp_path / "up", "wait")
    inner.policy.write_text('version: "1"\ndefault: allow\n')
    with listener(inner) as upstream:
        yield f"{upstream}/mcp"


@pytest.mark.parametrize("upstream", ["children", "http"])
async def test_a_legacy_http_client_approves_in_its_own_prompt(
    tmp_path: Path, upstream: str
) -> None:
    setup = Setup(tmp_path, "wait")
    setup.policy.write_text(setup.policy.read_text() + AGENTS)
    prompter = Prompter("accept")
    with contextlib.ExitStack() as stack:
        target = (
            SDK_SERVER if upstream == "children" else stack.enter_context(open_upstream(tmp_path))
        )
        base = stack.enter_context(listener(setup, upstream=target))
        with anyio.fail_after(60):
            async with agent_client(base, "legacy", elicitation_callback=prompter) as client:
                assert client.protocol_version == "2025-11-25"
                big = await client.call_tool("charge", {"amount": 900})

    assert (big.is_error, text_of(big)) == (False, "charged 900.0 EUR")
    [prompt] = prompter.prompts
    assert "Rule: big-charges-need-a-human" in prompt.message
    approved = [e for e in setup.audit_events() if e["event"] == "approval.approved"]
    assert [(e["by"], e["channel"]) for e in approved] == [("billing-bot", "client")]


@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_the_stdio_to_http_bridge_asks_a_legacy_client(tmp_path: Path, action: str) -> None:
    setup = Setup(tmp_path, "wait")
    prompter = Prompter(action)
    with open_upstream(tmp_path) as upstream:
        bridge = [
            *CALLGATE, "run", "-c", str(setup.policy), "--state", setup.state_url,
            "--audit", str(setup.audit), "--agent", "billing-bot", "--upstream", upstream,
        ]  # fmt: skip
        with anyio.fail_after(60):
            async with Client(
                stdio_params(bridge, setup.env), mode="legacy", elicitation_callback=prompter
            ) as client:
                big = await client.call_tool("charge", {"amount": 950})

    [prompt] = prompter.prompts
    assert '"amount": 950' in prompt.message
    if action == "accept":
        assert (big.is_error, text_of(big)) == (False, "charged 950.0 EUR")
    else:
        assert big.is_error and "declined" in text_of(big)


async def test_the_stdio_to_http_bridge_reports_progress_until_decided(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "wait")
    progress = Progress()
    results: list[CallToolResult] = []
    with open_upstream(tmp_path) as upstream:
        bridge = [
            *CALLGATE, "run", "-c", str(setup.policy), "--state", setup.state_url,
            "--audit", str(setup.audit), "--agent", "billing-bot", *PROGRESS,
            "--upstream", upstream,
        ]  # fmt: skip
        with anyio.fail_after(60):
            async with (
                Client(stdio_params(bridge, setup.env), mode="legacy") as client,
                anyio.create_task_group() as group,
            ):
                charge_in_background(group, client, 975, results, progress)
                await progress.until(2)
                await operator(setup, "approve", progress.approval_id(), "--by", "quinn")

    assert text_of(results[0]) == "charged 975.0 EUR"


async def test_with_the_admin_api_operators_answer_even_on_a_memory_store(tmp_path: Path) -> None:
    """Without the admin API nobody could reach a process-local store (denied at once)."""
    setup = Setup(tmp_path, "wait", state_url="memory://")
    progress = Progress()
    results: list[CallToolResult] = []
    flags = ("--admin-token-env", "CALLGATE_ADMIN_TOKEN", *PROGRESS)
    with listener(setup, *flags) as base, anyio.fail_after(60):
        async with (
            agent_client(base, "legacy") as client,
            httpx2.AsyncClient(base_url=f"{base}/admin", timeout=30) as http,
            anyio.create_task_group() as group,
        ):
            charge_in_background(group, client, 820, results, progress)
            await progress.until(1)
            approved = await http.post(
                f"/approvals/{progress.approval_id()}/approve", json={}, headers=admin()
            )
        with listener(setup) as without_admin:
            async with agent_client(without_admin, "legacy") as client:
                refused = await client.call_tool("charge", {"amount": 820})

    assert approved.status_code == 200
    assert text_of(results[0]) == "charged 820.0 EUR"
    assert refused.is_error and "no approver is configured or reachable" in text_of(refused)
