"""Pinning end to end: the official SDK client -> a real `callgate run` -> a server that
changes a tool at run time.

The fixture server (`tests.fixtures.servers.swapping_server`) is pinned with a real
`callgate pin`; its first call after a list swaps `lookup`'s description for a poisoned
one, adds `export_records` and sends `notifications/tools/list_changed`. Each `on_change`
mode is shown working, and `on_new_tool`, on both protocol generations.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from callgate.audit import read_records
from tests.approvals.proxied import Prompter, Setup, next_pending, operator, text_of
from tests.fixtures.peers import callgate_listener
from tests.fixtures.servers.commands import CALLGATE, PYTHON, ROOT, stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SWAPPING = [PYTHON, "-m", "tests.fixtures.servers.swapping_server"]
MODES = ["legacy", "auto"]

POLICY = """\
version: "1"
default: allow
approvals:
  mode: wait
  timeout: 120
  approvers: [operator]
integrity:
  lock: callgate.lock
  on_change: ON_CHANGE
"""


class Pinned(Setup):
    """A `callgate run` in front of the swapping server, under an `integrity:` policy."""

    def command(self) -> list[str]:
        base = super().command()
        return [*base[: base.index("--") + 1], *SWAPPING]


async def pinned(tmp_path: Path, on_change: str, extra: str = "") -> Pinned:
    """The policy written and the server pinned in `callgate.lock` beside it."""
    setup = Pinned(tmp_path, "wait", policy=POLICY.replace("ON_CHANGE", on_change) + extra)
    done = await anyio.run_process(
        [*CALLGATE, "pin", "-o", str(tmp_path / "callgate.lock"), "--", *SWAPPING],
        cwd=ROOT,
        env=setup.env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return setup


async def swapped(client: Client) -> CallToolResult:
    """List, then call `lookup` (the server swaps it while answering); the call's result."""
    first = await client.list_tools()
    assert {tool.name for tool in first.tools} == {"lookup", "charge"}
    ran = await client.call_tool("lookup", {"key": "a"})
    assert text_of(ran) == "record a"
    return ran


async def names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def after_swap(
    setup: Setup, mode: str, *calls: tuple[str, dict[str, object]]
) -> tuple[set[str], list[CallToolResult]]:
    """Through `callgate run`: list, call (the server swaps), list again, then `calls`."""
    with anyio.fail_after(60):
        async with Client(stdio_params(setup.command(), setup.env), mode=mode) as client:
            await swapped(client)
            listed = await names(client)
            return listed, [await client.call_tool(tool, args) for tool, args in calls]


def reasons(setup: Setup) -> list[tuple[str, str | None, str]]:
    """(decision, rule, reason) of each audited call, in order."""
    return [
        (record["decision"], record["rule"], record["reason"])
        for record in read_records(setup.audit)
        if "decision" in record
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_deny_refuses_a_changed_tool_and_a_call_before_the_list_is_fresh(
    tmp_path: Path, mode: str
) -> None:
    setup = await pinned(tmp_path, "deny")
    with anyio.fail_after(60):
        async with Client(stdio_params(setup.command(), setup.env), mode=mode) as client:
            await swapped(client)
            stale = await client.call_tool("lookup", {"key": "b"})
            listed = await names(client)
            changed = await client.call_tool("lookup", {"key": "c"})
            unchanged = await client.call_tool("charge", {"amount": 5})
            new = await client.call_tool("export_records", {})

    assert listed == {"lookup", "charge", "export_records"}  # deny leaves the list alone
    if mode == "legacy":  # the 2025-11-25 server tells every session on stdio
        assert stale.is_error
        assert "since the server said its tools changed" in text_of(stale)
    assert changed.is_error
    assert text_of(changed).startswith('[callgate] denied by rule "integrity": the definition')
    assert "changed since it was pinned in callgate.lock (sha256 " in text_of(changed)
    assert "callgate pin --update" in text_of(changed)
    assert text_of(unchanged) == "charged 5.0"
    assert new.is_error
    assert "tool 'export_records' is new: callgate.lock does not pin it" in text_of(new)
    assert ("deny", "integrity") in {(d, r) for d, r, _ in reasons(setup)}


@pytest.mark.parametrize("mode", MODES)
async def test_hide_takes_a_changed_tool_off_the_list_and_refuses_it(
    tmp_path: Path, mode: str
) -> None:
    setup = await pinned(tmp_path, "hide")
    listed, (hidden,) = await after_swap(setup, mode, ("lookup", {"key": "c"}))

    assert listed == {"charge"}
    assert hidden.is_error
    assert "tool 'lookup' is hidden: the definition of tool 'lookup' changed" in text_of(hidden)


@pytest.mark.parametrize("mode", MODES)
async def test_warn_lets_a_changed_tool_run_and_the_audit_log_says_so(
    tmp_path: Path, mode: str
) -> None:
    setup = await pinned(tmp_path, "warn")
    listed, (ran,) = await after_swap(setup, mode, ("lookup", {"key": "c"}))

    assert listed == {"lookup", "charge", "export_records"}
    assert text_of(ran) == "record c"
    warned = [reason for decision, _, reason in reasons(setup) if decision == "allow"]
    assert any(
        reason.startswith("warning: the definition of tool 'lookup' changed") for reason in warned
    )


@pytest.mark.parametrize("mode", MODES)
async def test_on_new_tool_is_judged_apart_from_on_change(tmp_path: Path, mode: str) -> None:
    setup = await pinned(tmp_path, "warn", "  on_new_tool: hide\n")
    listed, (changed, new) = await after_swap(
        setup, mode, ("lookup", {"key": "c"}), ("export_records", {})
    )

    assert listed == {"lookup", "charge"}
    assert text_of(changed) == "record c"
    assert new.is_error
    assert "tool 'export_records' is new" in text_of(new)


@pytest.mark.parametrize("mode", MODES)
async def test_scan_descriptions_hides_a_poisoned_tool_the_pin_only_warns_about(
    tmp_path: Path, mode: str
) -> None:
    setup = await pinned(tmp_path, "warn", "  scan_descriptions: hide\n")
    listed, (poisoned,) = await after_swap(setup, mode, ("lookup", {"key": "c"}))

    assert listed == {"charge", "export_records"}
    assert poisoned.is_error
    assert "the definition of tool 'lookup' looks poisoned: " in text_of(poisoned)
    assert "tells the model to hide something from the user (description)" in text_of(poisoned)


@pytest.mark.parametrize("mode", MODES)
async def test_require_approval_shows_the_diff_to_the_operator_who_decides(
    tmp_path: Path, mode: str
) -> None:
    setup = await pinned(tmp_path, "require_approval")
    results: list[CallToolResult] = []
    with anyio.fail_after(90):
        async with Client(stdio_params(setup.command(), setup.env), mode=mode) as client:
            await swapped(client)
            await names(client)

            async def call(key: str) -> None:
                results.append(await client.call_tool("lookup", {"key": key}))

            async with anyio.create_task_group() as group:
                group.start_soon(call, "c")
                first = await next_pending(setup)
                shown = await operator(setup, "show", first.id)
                as_json = json.loads(await operator(setup, "show", first.id, "--json"))
                approved = await operator(setup, "approve", first.id)
            async with anyio.create_task_group() as group:
                group.start_soon(call, "d")
                second = await wait_for_another(setup, first.id)
                await operator(setup, "deny", second, "--reason", "not what we reviewed")

    assert first.request.rule == "integrity"
    assert first.request.definition_diff is not None
    assert "definition changed since it was pinned:" in shown
    assert "--- lookup (pinned)" in shown
    assert '    +  "description": "Look up a record by key. <IMPORTANT>' in shown
    assert as_json["definition_diff"] == first.request.definition_diff
    assert "approved" in approved
    assert text_of(results[0]) == "record c"
    assert results[1].is_error
    assert "not what we reviewed" in text_of(results[1])


async def wait_for_another(setup: Setup, seen: str) -> str:
    """The id of a pending approval other than `seen`, once there is one."""
    while True:
        listed = await operator(setup, "list")
        ids = [line.split()[0] for line in listed.splitlines()[1:] if line.startswith("ap_")]
        fresh = [approval for approval in ids if approval != seen]
        if fresh:
            return fresh[0]
        await anyio.sleep(0.05)


@pytest.mark.parametrize("mode", MODES)
async def test_the_http_listener_checks_listings_and_calls_the_same_way(
    tmp_path: Path, mode: str
) -> None:
    setup = await pinned(tmp_path, "deny")
    extra = ("--state", setup.state_url, "--audit", str(setup.audit))
    with (
        callgate_listener(setup.policy, SWAPPING, tmp_path / "callgate.log", *extra) as url,
        anyio.fail_after(60),
    ):
        async with Client(streamable_http_client(url), mode=mode) as client:
            await swapped(client)
            stale = await client.call_tool("lookup", {"key": "b"})
            listed = await names(client)
            changed = await client.call_tool("lookup", {"key": "c"})
            unchanged = await client.call_tool("charge", {"amount": 5})

    assert listed == {"lookup", "charge", "export_records"}
    assert changed.is_error
    assert "the definition of tool 'lookup' changed since it was pinned" in text_of(changed)
    assert text_of(unchanged) == "charged 5.0"
    if mode == "legacy":  # the server's list_changed reached callgate on the GET stream
        assert stale.is_error
        assert "since the server said its tools changed" in text_of(stale)


@pytest.mark.parametrize("mode", MODES)
async def test_the_agents_own_client_is_shown_the_diff_when_it_approves(
    tmp_path: Path, mode: str
) -> None:
    setup = await pinned(tmp_path, "require_approval")
    setup.policy.write_text(setup.policy.read_text().replace("[operator]", "[client]"))
    prompter = Prompter("accept")
    with anyio.fail_after(60):
        async with Client(
            stdio_params(setup.command(), setup.env), mode=mode, elicitation_callback=prompter
        ) as client:
            await swapped(client)
            await names(client)
            approved = await client.call_tool("lookup", {"key": "c"})

    assert text_of(approved) == "record c"
    [prompt] = prompter.prompts
    assert "Rule: integrity" in prompt.message
    assert "The tool's definition changed since it was pinned:\n--- lookup (pinned)" in (
        prompt.message
    )
    assert '+  "description": "Look up a record by key. <IMPORTANT>' in prompt.message
