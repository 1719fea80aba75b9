"""Fixtures for the HTTP transport tests: a real MCP server on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
UPSTREAM_SERVER = HERE / "upstream_server.py"
FASTMCP_HTTP_SERVER = HERE / "fastmcp_http_server.py"
KINDS = ["url", "command"]
COMMAND = [sys.executable, str(UPSTREAM_SERVER), "stdio"]
"""The fixture server over stdio: the upstream of a listener in front of a command."""


def start_http_server(*command: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a fixture server over HTTP (by default the SDK one); returns it and its /mcp URL."""
    process = subprocess.Popen(
        [sys.executable, *(command or (str(UPSTREAM_SERVER), "http"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"fixture server did not start: {line!r}")
    return process, f"http://127.0.0.1:{int(line.split()[1])}/mcp"


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a fixture process and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def upstream_url() -> Iterator[str]:
    """The /mcp URL of a fresh fixture server (Streamable HTTP, stateful sessions)."""
    process, url = start_http_server()
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(params=KINDS)
def upstream(request: pytest.FixtureRequest) -> Iterator[str | list[str]]:
    """A listener's upstream: the fixture server's URL, or the command that runs it."""
    if request.param == "command":
        yield COMMAND
        return
    process, url = start_http_server()
    try:
        yield url
    finally:
        stop(process)
