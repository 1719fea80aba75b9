"""Real processes for the end-to-end tests: the counting upstream, `callgate run`, SDK clients.

Everything here starts a real process and waits on what it writes (a `PORT` line, the
`callgate listening on` announcement, a start-up log line), bounded by the caller's
`anyio.fail_after`; nothing sleeps. Every process is stopped on the way out, politely
first (callgate flushes its audit log on SIGTERM), so tests read complete audit logs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from callgate.audit import read_records

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
UPSTREAM = [PYTHON, "-m", "tests.e2e.upstream"]
CALLGATE = [PYTHON, "-m", "callgate"]
STOP_TIMEOUT = 15.0
DECISION = "callgate/decision"


class Lines:
    """A process's output, line by line, with a way to wait for a line to appear."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = anyio.Event()

    async def pump(self, stream: anyio.abc.ByteReceiveStream) -> None:
        """Collect lines from `stream` until it ends."""
        pending = b""
        try:
            async for chunk in stream:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                self.lines.extend(line.decode(errors="replace") for line in complete)
                self._notify()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            if pending:
                self.lines.append(pending.decode(errors="replace"))
            self.ended = True
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, pattern: str) -> re.Match[str]:
        """The first line matching `pattern`, once one has been written."""
        compiled = re.compile(pattern)
        seen = 0
        while True:
            for line in self.lines[seen:]:
                found = compiled.search(line)
                if found is not None:
                    return found
            seen = len(self.lines)
            if self.ended:
                text = "\n".join(self.lines[-30:])
                raise AssertionError(f"output ended without {pattern!r}:\n{text}")
            await self._changed.wait()

    @property
    def text(self) -> str:
        """Everything written so far."""
        return "\n".join(self.lines)


@asynccontextmanager
async def started(
    command: Sequence[str], env: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[anyio.abc.Process, Lines, Lines]]:
    """Run `command` from the repository root; yields it with its stdout and stderr lines."""
    out, err = Lines(), Lines()
    process = await anyio.open_process(
        list(command),
        cwd=ROOT,
        env=dict(env if env is not None else os.environ),
        stdin=subprocess.DEVNULL,
    )
    async with anyio.create_task_group() as group:
        assert process.stdout is not None and process.stderr is not None
        group.start_soon(out.pump, process.stdout)
        group.start_soon(err.pump, process.stderr)
        try:
            yield process, out, err
        finally:
            with anyio.CancelScope(shield=True):
                await stop(process)
            group.cancel_scope.cancel()


async def stop(process: anyio.abc.Process) -> None:
    """SIGTERM, then SIGKILL if it outstays `STOP_TIMEOUT`; waits for the exit."""
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(STOP_TIMEOUT):
            await process.wait()
        if process.returncode is None:
            process.kill()
    await process.wait()


@asynccontextmanager
async def http_upstream() -> AsyncIterator[str]:
    """The counting upstream over Streamable HTTP; yields its /mcp URL."""
    async with started([*UPSTREAM, "http"]) as (_, out, _err):
        port = (await out.wait_for(r"^PORT (\d+)$")).group(1)
        yield f"http://127.0.0.1:{port}/mcp"


@dataclass
class Callgate:
    """One `callgate run` process: its /mcp URL (listen mode), its stderr, its audit log."""

    process: anyio.abc.Process
    stderr: Lines
    audit_path: Path
    url: str = ""

    def audit(self) -> list[dict[str, Any]]:
        """The decision records of the audit log (complete once the process stopped)."""
        if not self.audit_path.exists():
            return []
        return [record for record in read_records(self.audit_path) if "decision" in record]


@dataclass
class Setup:
    """One test's files: a policy, a data directory, an audit log, the environment."""

    directory: Path
    policy_text: str
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.policy.write_text(self.policy_text)

    @property
    def policy(self) -> Path:
        return self.directory / "policy.yaml"

    def environment(self) -> dict[str, str]:
        return {**os.environ, "XDG_DATA_HOME": str(self.directory / "data"), **self.env}

    def run_command(self, state: str, audit: Path, *extra: str) -> list[str]:
        """`callgate run -c POLICY --state STATE --audit AUDIT EXTRA...`."""
        return [
            *CALLGATE, "run", "-c", str(self.policy), "--state", state,
            "--audit", str(audit), *extra,
        ]  # fmt: skip


@asynccontextmanager
async def callgate_listening(
    setup: Setup, state: str, upstream: str, *extra: str, name: str = "callgate"
) -> AsyncIterator[Callgate]:
    """`callgate run --listen 127.0.0.1:0 --upstream URL`; yields it once it listens."""
    audit = setup.directory / f"{name}-audit"
    command = setup.run_command(
        state, audit, "--listen", "127.0.0.1:0", *extra, "--upstream", upstream
    )
    async with started(command, setup.environment()) as (process, _, err):
        found = await err.wait_for(r"callgate listening on (http://\S+/mcp)")
        yield Callgate(process, err, audit, found.group(1))


@asynccontextmanager
async def connect(
    url: str,
    *,
    token: str | None = None,
    session_key: str | None = None,
    mode: str = "legacy",
) -> AsyncIterator[Client]:
    """An official SDK client over Streamable HTTP, with a bearer token and session key."""
    headers: dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if session_key is not None:
        headers["Callgate-Session"] = session_key
    timeout = httpx2.Timeout(60.0, read=300.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


async def seen(url: str) -> Counter[str]:
    """How many times each tool ran in the HTTP upstream at `url` (asked directly)."""
    async with connect(url) as client:
        result = await client.call_tool("seen", {})
    return Counter(json.loads(text_of(result)))


def text_of(result: CallToolResult) -> str:
    """The text of a result's first content block."""
    first = result.content[0]
    assert isinstance(first, TextContent), first
    return first.text


def verdict(result: CallToolResult) -> str:
    """`allow` for a result the server produced, else callgate's verdict from `_meta`."""
    meta = (result.meta or {}).get(DECISION)
    if meta is None:
        assert not result.is_error, text_of(result)
        return "allow"
    assert result.is_error
    return str(meta["verdict"])


def decision_meta(result: CallToolResult) -> dict[str, Any]:
    """The structured details callgate put in a denial's `_meta`."""
    meta = (result.meta or {}).get(DECISION)
    assert isinstance(meta, dict), result
    return meta
