"""SIGTERM to `callgate run --listen` while a client holds its GET stream open.

The listener ends open SSE streams as soon as the signal arrives, so the shutdown neither
waits out uvicorn's grace period nor cancels a stream mid-write (which printed a
traceback); callgate exits 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.support import ROOT, Lines
from tests.transports.conftest import UPSTREAM_SERVER

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_sigterm_ends_open_streams_and_exits_cleanly(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: "1"\ndefault: allow\n')
    argv = [
        sys.executable, "-m", "callgate", "run", "-c", str(policy), "--state", "memory://",
        "--no-audit", "--listen", "127.0.0.1:0", "--", sys.executable, str(UPSTREAM_SERVER),
        "stdio",
    ]  # fmt: skip
    environment = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    err = Lines()
    process = await anyio.open_process(argv, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL)
    async with process, anyio.create_task_group() as group:
        assert process.stderr is not None
        group.start_soon(err.pump, process.stderr)
        with anyio.fail_after(60):
            found = await err.wait_for(r"callgate listening on (http://\S+/mcp)")
        # A 2025-11-25 client opens its standalone GET stream and keeps it open.
        with anyio.fail_after(60):
            async with Client(streamable_http_client(found.group(1)), mode="legacy") as client:
                assert (await client.list_tools()).tools
                process.terminate()
                status = await process.wait()
    assert status == 0
    log = "\n".join(err.lines)
    # uvicorn says this when it had to cancel a stream after its grace period.
    assert "graceful shutdown exceeded" not in log, log
    assert "Traceback" not in log, log
