"""`callgate run` in its HTTP modes, as real processes, with the official SDK client in front.

- `--listen HOST:PORT -- CMD`: Streamable HTTP in, a stdio child upstream;
- `--listen HOST:PORT --upstream URL`: Streamable HTTP in and out;
- `--upstream URL`: stdio in, Streamable HTTP upstream.

Every mode is checked in both MCP generations with the real policy engine deciding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from callgate.audit import read_records
from tests.transports.conftest import UPSTREAM_SERVER, start_http_server, stop
from tests.transports.helpers import text_of

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CALLGATE = [sys.executable, "-m", "callgate"]
STDIO_SERVER = [sys.executable, str(UPSTREAM_SERVER), "stdio"]
MODES = ["auto", "legacy"]
POLICY = """\
version: "1"
default: allow
hide: [ask]
tools:
  delete_everything:
    rules:
      - name: no-mass-deletes
        action: deny
        on_deny: "deleting everything is never allowed"
  echo:
    rules:
      - name: short-echoes
        conditions:
          - path: args.text
            op: not_regex
            value: forbidden
        on_deny: "that word is not allowed"
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def upstream_url() -> Iterator[str]:
    process, url = start_http_server()
    try:
        yield url
    finally:
        stop(process)


def callgate_run(policy: Path, tmp_path: Path, *args: str) -> list[str]:
    return [
        *CALLGATE,
        "run",
        "-c",
        str(policy),
        "--state",
        "memory://",
        "--audit",
        str(tmp_path / "audit"),
        *args,
    ]


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}


@asynccontextmanager
async def listener(command: list[str], tmp_path: Path) -> AsyncIterator[str]:
    """Start `callgate run --listen 127.0.0.1:0 ...`; yields the URL it announces on stderr."""
    process = await anyio.open_process(command, cwd=ROOT, env=environment(tmp_path))
    try:
        assert process.stderr is not None
        seen = b""
        with anyio.fail_after(30):
            while b"callgate listening on " not in seen:
                chunk = await process.stderr.receive()
                seen += chunk
        line = seen.split(b"callgate listening on ", 1)[1].split(b"\n", 1)[0]
        yield line.decode().strip()
    finally:
        process.terminate()
        with anyio.fail_after(15):
            await process.wait()
        await process.aclose()


async def check_decisions(client: Client) -> None:
    """Allow, deny with the rule's reason, and hide, as the agent sees them."""
    tools = {tool.name for tool in (await client.list_tools()).tools}
    allowed = await client.call_tool("echo", {"text": "hello"})
    refused = await client.call_tool("echo", {"text": "a forbidden word"})
    deleted = await client.call_tool("delete_everything", {})
    executed = json.loads(text_of(await client.call_tool("executed_tools", {})))
    assert "ask" not in tools
    assert {"echo", "count", "delete_everything"} <= tools
    assert text_of(allowed) == "hello"
    assert refused.is_error
    assert text_of(refused).startswith('[callgate] denied by rule "short-echoes"')
    assert "that word is not allowed" in text_of(refused)
    assert deleted.is_error
    assert "deleting everything is never allowed" in text_of(deleted)
    assert executed == ["echo"]


def audit_decisions(tmp_path: Path) -> list[str]:
    return [record["decision"] for record in read_records(tmp_path / "audit")]


@pytest.mark.parametrize("mode", MODES)
async def test_listen_in_front_of_a_stdio_command(policy: Path, tmp_path: Path, mode: str) -> None:
    command = callgate_run(policy, tmp_path, "--listen", "127.0.0.1:0", "--", *STDIO_SERVER)
    with anyio.fail_after(90):
        async with (
            listener(command, tmp_path) as url,
            Client(streamable_http_client(url), mode=mode) as client,
        ):
            await check_decisions(client)
    assert audit_decisions(tmp_path).count("deny") == 2


@pytest.mark.parametrize("mode", MODES)
async def test_listen_in_front_of_an_http_upstream(
    policy: Path, tmp_path: Path, upstream_url: str, mode: str
) -> None:
    command = callgate_run(
        policy,
        tmp_path,
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream_url,
        "--header",
        "X-Upstream-Token: from-the-operator",
    )
    http = httpx2.AsyncClient(headers={"Authorization": "Bearer agent-secret"}, timeout=30)
    with anyio.fail_after(90):
        async with (
            http,
            listener(command, tmp_path) as url,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            await check_decisions(client)
            seen = json.loads(text_of(await client.call_tool("headers", {})))
    assert "authorization" not in seen
    assert seen["x-upstream-token"] == "from-the-operator"


@pytest.mark.parametrize("mode", MODES)
async def test_stdio_in_front_of_an_http_upstream(
    policy: Path, tmp_path: Path, upstream_url: str, mode: str
) -> None:
    command = callgate_run(policy, tmp_path, "--upstream", upstream_url)
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=environment(tmp_path), cwd=ROOT
    )
    with anyio.fail_after(90):
        async with Client(params, mode=mode) as client:
            await check_decisions(client)
    assert audit_decisions(tmp_path).count("deny") == 2


def test_listen_refuses_a_bad_address(policy: Path, tmp_path: Path) -> None:
    command = callgate_run(policy, tmp_path, "--listen", "nowhere", "--", *STDIO_SERVER)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, check=False, timeout=60)
    assert result.returncode == 2
    assert b"--listen takes HOST:PORT" in result.stderr


async def test_allow_host_adds_a_name_the_listener_answers_to(policy: Path, tmp_path: Path) -> None:
    command = callgate_run(
        policy,
        tmp_path,
        "--listen",
        "127.0.0.1:0",
        "--allow-host",
        "mcp.internal",
        "--",
        *STDIO_SERVER,
    )
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    with anyio.fail_after(60):
        async with listener(command, tmp_path) as url, httpx2.AsyncClient(timeout=30) as http:
            port = url.split(":")[2].split("/")[0]
            allowed = await http.post(
                url, json=ping, headers={**headers, "host": f"mcp.internal:{port}"}
            )
            refused = await http.post(
                url, json=ping, headers={**headers, "host": f"evil.example:{port}"}
            )
    # Allowed through the Host check (a ping outside a session is the child backend's 400).
    assert allowed.status_code == 400
    assert allowed.json()["error"]["message"] == "missing Mcp-Session-Id header"
    assert refused.status_code == 421
