"""A real `callgate run --listen` in front of the demo server, with the console mounted, and
the steps an operator takes over HTTP (log in, read a page, post a form)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from callgate.approvals.model import Approval, Status
from callgate.audit import read_records
from callgate.state.approvals_sqlite import SqliteApprovalStore
from tests.fixtures.peers import free_port, running, wait_for_logged_url, wait_for_port
from tests.fixtures.servers.commands import CALLGATE, PYTHON

ADMIN_TOKEN = "console-admin-token-0123456789"
DEMO_SERVER = [PYTHON, "-m", "callgate.demo.server"]
EXTRA_POLICY = """
  send_note:
    rules:
      - name: notes-need-a-human
        action: require_approval
"""


def demo_policy() -> str:
    """The demo's own policy (what the README's quick start runs)."""
    return (resources.files("callgate.demo") / "policy.yaml").read_text()


@dataclass
class Proxy:
    """Paths of one proxy run and the base URL it serves (`http://127.0.0.1:PORT`)."""

    root: Path
    policy: Path
    state: Path
    audit: Path
    env: dict[str, str]
    base: str = ""

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.state}"

    @property
    def console(self) -> str:
        return f"{self.base}/console"


def prepare(tmp_path: Path, policy: str | None = None) -> Proxy:
    """Files for a proxy run: the demo policy, a state file, an audit directory."""
    path = tmp_path / "policy.yaml"
    path.write_text(policy if policy is not None else demo_policy())
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "CALLGATE_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    return Proxy(tmp_path, path, tmp_path / "state.db", tmp_path / "audit", env)


@contextmanager
def proxy_running(proxy: Proxy, *extra: str) -> Iterator[Proxy]:
    """`callgate run --listen 127.0.0.1:0 --admin-token-env ... -- demo server`."""
    command = [
        *CALLGATE, "run", "-c", str(proxy.policy), "--listen", "127.0.0.1:0",
        "--state", proxy.state_url, "--audit", str(proxy.audit),
        "--admin-token-env", "CALLGATE_ADMIN_TOKEN", *extra, "--", *DEMO_SERVER,
    ]  # fmt: skip
    log = proxy.root / f"callgate-{uuid.uuid4().hex[:8]}.log"
    with running(command, log, proxy.env) as process:
        proxy.base = wait_for_logged_url(process, log).removesuffix("/mcp")
        yield proxy


@contextmanager
def console_running(proxy: Proxy, *extra: str) -> Iterator[str]:
    """`callgate console` on its own over the proxy's store and audit; yields its base URL."""
    port = free_port()
    command = [
        *CALLGATE, "console", "-c", str(proxy.policy), "--state", proxy.state_url,
        "--audit", str(proxy.audit), "--listen", f"127.0.0.1:{port}",
        "--admin-token-env", "CALLGATE_ADMIN_TOKEN", *extra,
    ]  # fmt: skip
    log = proxy.root / f"console-{uuid.uuid4().hex[:8]}.log"
    with running(command, log, proxy.env) as process:
        wait_for_port(process, port, log)
        yield f"http://127.0.0.1:{port}/console"


def in_background(
    group: anyio.abc.TaskGroup, client: Client, tool: str, arguments: dict[str, Any]
) -> list[CallToolResult]:
    """Call `tool` in a task of its own (it may wait for approval); its result lands in the
    list returned."""
    results: list[CallToolResult] = []

    async def call() -> None:
        results.append(await client.call_tool(tool, arguments))

    group.start_soon(call)
    return results


@asynccontextmanager
async def agent(proxy: Proxy) -> AsyncIterator[Client]:
    """The official SDK client over Streamable HTTP, as the policy's anonymous agent."""
    async with (
        httpx2.AsyncClient(timeout=120) as http,
        Client(streamable_http_client(f"{proxy.base}/mcp", http_client=http)) as client,
    ):
        yield client


_NONCE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF field's value on a page."""
    match = _NONCE.search(html)
    assert match is not None, html[:2000]
    return match.group(1)


async def log_in(
    http: httpx2.AsyncClient, console: str, token: str = ADMIN_TOKEN, name: str = "alice"
) -> httpx2.Response:
    """Fetch the login form and post it (the client keeps the cookies)."""
    form = await http.get(f"{console}/login")
    assert form.status_code == 200
    return await http.post(
        f"{console}/login",
        data={"csrf": csrf_of(form.text), "name": name, "token": token},
    )


async def next_pending(proxy: Proxy, count: int = 1) -> list[Approval]:
    """The pending requests in the proxy's store, once there are `count` of them."""
    while not proxy.state.exists():
        await anyio.sleep(0.02)
    store = SqliteApprovalStore(proxy.state)
    try:
        while len(pending := await store.list({Status.REQUESTED})) < count:
            await anyio.sleep(0.02)
        return pending
    finally:
        await store.aclose()


async def audited(proxy: Proxy, count: int) -> None:
    """Wait until the proxy's audit log holds `count` decisions (its writer is a thread)."""
    while sum(1 for r in _records(proxy) if r.get("decision")) < count:
        await anyio.sleep(0.02)


def _records(proxy: Proxy) -> list[dict[str, Any]]:
    return read_records(proxy.audit) if proxy.audit.exists() else []
