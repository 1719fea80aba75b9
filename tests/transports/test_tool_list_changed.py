"""A policy reload that hides or shows tools reaches connected clients as
`notifications/tools/list_changed`: real `callgate run` processes, the official SDK client in
front (both protocol generations), the policy file edited on disk.

The watcher polls every 50 ms here; every wait is on the client's own notification
callback, bounded by `anyio.fail_after`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ToolListChangedNotification

from tests.e2e.support import ROOT, Lines, stop
from tests.transports.conftest import UPSTREAM_SERVER

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALLGATE = [sys.executable, "-m", "callgate"]
STDIO_SERVER = [sys.executable, str(UPSTREAM_SERVER), "stdio"]
SHOWN = 'version: "1"\ndefault: allow\nhide: [ask]\n'
HIDDEN = 'version: "1"\ndefault: allow\nhide: [ask, echo]\n'
MODES = ["legacy", "auto"]


class Changes:
    """The client's message handler: counts `tools/list_changed` and wakes waiters."""

    def __init__(self) -> None:
        self.count = 0
        self._event = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            self.count += 1
            self._event.set()

    async def next(self) -> None:
        """Wait for the next notification."""
        await self._event.wait()
        self._event = anyio.Event()


def edit(policy: Path, text: str) -> None:
    """Rewrite the policy so the watcher sees a new (size, mtime) even on coarse clocks."""
    before = policy.stat()
    policy.write_text(text)
    os.utime(policy, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def command(policy: Path, tmp_path: Path, *args: str) -> list[str]:
    return [
        *CALLGATE, "run", "-c", str(policy), "--state", "memory://",
        "--audit", str(tmp_path / "audit.jsonl"), "--reload-interval", "0.05", *args,
    ]  # fmt: skip


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}


async def names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def check_hide_and_show(client: Client, changes: Changes, policy: Path) -> None:
    """Hide `echo`: told, and a fresh listing lacks it; show it again: told, it is back."""
    assert "echo" in await names(client)
    edit(policy, HIDDEN)
    await changes.next()
    assert "echo" not in await names(client)
    refused = await client.call_tool("echo", {"text": "hi"})
    assert refused.is_error
    edit(policy, SHOWN)
    await changes.next()
    assert "echo" in await names(client)
    assert changes.count == 2


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(SHOWN)
    return path


@pytest.mark.parametrize("mode", MODES)
async def test_stdio_client_is_told_when_a_reload_hides_and_shows_a_tool(
    policy: Path, tmp_path: Path, mode: str
) -> None:
    argv = command(policy, tmp_path, "--", *STDIO_SERVER)
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env=environment(tmp_path), cwd=ROOT
    )
    changes = Changes()
    with anyio.fail_after(60):
        async with Client(params, mode=mode, message_handler=changes) as client:
            await check_hide_and_show(client, changes, policy)


@asynccontextmanager
async def through_listener(
    argv: list[str], tmp_path: Path, changes: Changes, mode: str = "legacy"
) -> AsyncIterator[tuple[Client, Lines]]:
    """`callgate run --listen ...` started, and an SDK client connected to it."""
    err = Lines()
    process = await anyio.open_process(
        argv, cwd=ROOT, env=environment(tmp_path), stdin=subprocess.DEVNULL
    )
    async with process, anyio.create_task_group() as group:
        assert process.stderr is not None
        group.start_soon(err.pump, process.stderr)
        try:
            found = await err.wait_for(r"callgate listening on (http://\S+/mcp)")
            transport = streamable_http_client(found.group(1))
            async with Client(transport, mode=mode, message_handler=changes) as client:
                yield client, err
        finally:
            with anyio.CancelScope(shield=True):
                await stop(process)


@pytest.fixture(params=["command", "url"])
def upstream(request: pytest.FixtureRequest, upstream_url: str) -> list[str]:
    """What `--listen` fronts: a stdio child (`-- CMD`) or an HTTP server (`--upstream`)."""
    if request.param == "command":
        return ["--", *STDIO_SERVER]
    return ["--upstream", upstream_url]


async def test_http_session_is_told_on_its_get_stream(
    policy: Path, tmp_path: Path, upstream: list[str]
) -> None:
    argv = command(policy, tmp_path, "--listen", "127.0.0.1:0", *upstream)
    changes = Changes()
    with anyio.fail_after(60):
        async with through_listener(argv, tmp_path, changes) as (client, _err):
            await check_hide_and_show(client, changes, policy)


async def test_a_reload_that_changes_no_listed_tool_tells_nobody(
    policy: Path, tmp_path: Path
) -> None:
    argv = command(policy, tmp_path, "--listen", "127.0.0.1:0", "--", *STDIO_SERVER)
    changes = Changes()
    with anyio.fail_after(60):
        async with through_listener(argv, tmp_path, changes) as (client, err):
            await names(client)
            edit(policy, SHOWN.replace("[ask]", "[ask, no_such_tool]"))
            await err.wait_for(r"policy reloaded")
            edit(policy, HIDDEN)
            await changes.next()
            await err.wait_for(r"told 1 client session")
            # Announcements run in reload order: had the first edit been told, its line
            # would be here already.
            told = [line for line in err.lines if "hidden tools changed" in line]
            reloads = [line for line in err.lines if "policy reloaded" in line]
            assert len(told) == 1
            assert len(reloads) == 2
            assert changes.count == 1


async def check_listen_stream(client: Client, policy: Path) -> None:
    """2026-07-28: the change arrives on a `subscriptions/listen` stream asking for it."""
    assert "echo" in await names(client)
    async with client.listen(tools_list_changed=True) as subscription:
        events = aiter(subscription)
        edit(policy, HIDDEN)
        await anext(events)
        assert "echo" not in await names(client)
        edit(policy, SHOWN)
        await anext(events)
        assert "echo" in await names(client)


async def test_stateless_client_is_told_on_its_listen_stream(
    policy: Path, tmp_path: Path, upstream: list[str]
) -> None:
    argv = command(policy, tmp_path, "--listen", "127.0.0.1:0", *upstream)
    with anyio.fail_after(60):
        async with through_listener(argv, tmp_path, Changes(), mode="auto") as (client, _err):
            await check_listen_stream(client, policy)


@pytest.mark.parametrize("mode", MODES)
async def test_stdio_client_of_an_http_upstream_is_told_too(
    policy: Path, tmp_path: Path, upstream_url: str, mode: str
) -> None:
    argv = command(policy, tmp_path, "--upstream", upstream_url)
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env=environment(tmp_path), cwd=ROOT
    )
    changes = Changes()
    with anyio.fail_after(60):
        async with Client(params, mode=mode, message_handler=changes) as client:
            await check_hide_and_show(client, changes, policy)
