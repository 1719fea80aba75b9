"""`callgate run --listen HOST:PORT -- CMD` keeps a spare child warm: real callgate and
server processes, the official SDK client and raw HTTP in front.

Every server child reports its pid to the test over a loopback connection it holds open
for its whole life (`reporting_server.py`), so births and deaths are events to wait on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.support import ROOT, Lines, stop
from tests.fixtures.servers.raw_session import INITIALIZE
from tests.transports.reporting_server import REPORT_PORT

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

REPORTING_SERVER = [sys.executable, str(Path(__file__).with_name("reporting_server.py"))]
POLICY = 'version: "1"\ndefault: allow\n'
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


class Children:
    """The server processes callgate started: pids in birth order, and which still live."""

    def __init__(self) -> None:
        self.born: list[int] = []
        self.alive: set[int] = set()
        self._changed = anyio.Event()

    async def serve(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        async with listener:
            await listener.serve(self._follow)

    async def _follow(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while not data.endswith(b"\n"):
                data += await stream.receive()
            pid = int(data)
            self.born.append(pid)
            self.alive.add(pid)
            self._wake()
            try:
                while await stream.receive():
                    pass
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
            self.alive.discard(pid)
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, condition: Callable[[Children], bool]) -> None:
        """Wait until `condition` holds."""
        while not condition(self):
            await self._changed.wait()


@asynccontextmanager
async def callgate_listening(
    tmp_path: Path, *server_args: str
) -> AsyncIterator[tuple[str, Children, Lines, anyio.abc.Process]]:
    """`callgate run --listen 127.0.0.1:0 -- reporting_server.py ARGS`, and its children."""
    children = Children()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    report = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = report.extra(anyio.abc.SocketAttribute.local_port)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), REPORT_PORT: str(port)}
    env.pop("CALLGATE_SPARE_CHILD", None)
    argv = [
        sys.executable, "-m", "callgate", "run", "-c", str(policy), "--state", "memory://",
        "--no-audit", "--listen", "127.0.0.1:0", "--", *REPORTING_SERVER, *server_args,
    ]  # fmt: skip
    err = Lines()
    async with anyio.create_task_group() as group:
        group.start_soon(children.serve, report)
        process = await anyio.open_process(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
        async with process:
            assert process.stderr is not None
            group.start_soon(err.pump, process.stderr)
            try:
                found = await err.wait_for(r"callgate listening on (http://\S+/mcp)")
                yield found.group(1), children, err, process
            finally:
                with anyio.CancelScope(shield=True):
                    await stop(process)
        group.cancel_scope.cancel()


def state_of(pid: int) -> str | None:
    """The process's state letter from /proc (`Z` for a zombie), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def children_of(pid: int) -> set[int]:
    """The live child processes of `pid`, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def session_client(url: str) -> Client:
    return Client(streamable_http_client(url), mode="legacy")


async def test_initialize_is_answered_by_the_spare_started_at_listen_time(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(60):
        async with callgate_listening(tmp_path) as (url, children, _err, _process):
            await children.until(lambda c: len(c.alive) == 1)  # before any client
            spare = children.born[0]
            async with session_client(url) as client:
                assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
                # The session took the spare; a new spare starts in the background.
                await children.until(lambda c: len(c.alive) == 2)
                assert spare in children.alive
            # Closing the session ends its child: the one that was the spare.
            await children.until(lambda c: spare not in c.alive)
            assert len(children.alive) == 1
            assert children.born[1] in children.alive


async def test_two_sessions_get_two_different_children(tmp_path: Path) -> None:
    with anyio.fail_after(60):
        async with callgate_listening(tmp_path) as (url, children, _err, _process):
            async with session_client(url) as first, session_client(url) as second:
                await first.list_tools()
                await second.list_tools()
                await children.until(lambda c: len(c.alive) == 3)  # two sessions, one spare
                before = set(children.alive)
            await children.until(lambda c: len(c.alive) == 1)
            ended = before - children.alive
            assert len(ended) == 2  # each session had its own child, ended with it


async def test_shutdown_leaves_no_child_process(tmp_path: Path) -> None:
    with anyio.fail_after(60):
        async with callgate_listening(tmp_path) as (url, children, _err, process):
            async with session_client(url) as client:
                await client.list_tools()
                await children.until(lambda c: len(c.alive) == 2)
                assert children_of(process.pid) == children.alive
                await stop(process)
            assert process.returncode == 0  # shut down in order, not killed by the signal
            await children.until(lambda c: not c.alive)
    for pid in children.born:
        assert state_of(pid) in (None, "Z")


async def test_a_failing_command_gives_a_clear_error_and_is_not_respawned_in_a_loop(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(60):
        async with callgate_listening(tmp_path, "fail") as (url, children, err, _process):
            # The spare exits at once: it is replaced after 0.5 s, then 1 s, then 2 s.
            await err.wait_for(r"spare server exited unused \(status 3\); another in 0.5 s")
            await err.wait_for(r"spare server exited unused \(status 3\); another in 1.0 s")
            async with httpx2.AsyncClient(timeout=30) as http:
                response = await http.post(url, json=INITIALIZE, headers=HEADERS)
                text = (await response.aread()).decode()
            # The same answer as without a spare: the command's own failure.
            assert '"message":"upstream process exited (status 3)"' in text
            spares = len(children.born)
            await err.wait_for(r"another in 2.0 s")
            # Two spares and the session's own child in well over a second: no tight loop.
            assert len(children.born) <= spares + 2
