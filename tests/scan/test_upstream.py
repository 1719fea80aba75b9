"""Fetching a real server's whole tool list over stdio and Streamable HTTP."""

from __future__ import annotations

import sys

import anyio
import pytest

from callgate.scan.target import Upstream, UpstreamError, parse_header, upstream_from_args
from callgate.scan.upstream import fetch_tools
from tests.scan.paged_server import LOOP_VARIABLE, PAGE_SIZE, ROOT, TOOLS, running_http

pytestmark = pytest.mark.anyio

STDIO_SERVER = (sys.executable, "-m", "tests.scan.paged_server", "stdio")


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stdio fixture server is started as `python -m tests.scan.paged_server`.
    monkeypatch.chdir(ROOT)


async def test_fetch_tools_pages_through_every_cursor_over_stdio() -> None:
    assert len(TOOLS) > 2 * PAGE_SIZE  # at least three pages

    with anyio.fail_after(30):
        tools = await fetch_tools(Upstream(command=STDIO_SERVER))

    assert [tool["name"] for tool in tools] == [tool.name for tool in TOOLS]
    assert tools[3]["inputSchema"]["properties"] == {"command": {"type": "string"}}


async def test_cursor_that_loops_is_an_upstream_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_VARIABLE, "1")

    with anyio.fail_after(30), pytest.raises(UpstreamError, match="twice"):
        await fetch_tools(Upstream(command=STDIO_SERVER))


async def test_fetch_tools_sends_headers_to_an_http_upstream() -> None:
    with running_http(token="sekrit") as url, anyio.fail_after(30):
        tools = await fetch_tools(Upstream(url=url, headers={"X-Token": "sekrit"}))

    assert [tool["name"] for tool in tools] == [tool.name for tool in TOOLS]


async def test_http_upstream_refusing_the_request_is_an_upstream_error() -> None:
    with (
        running_http(token="sekrit") as url,
        anyio.fail_after(30),
        pytest.raises(UpstreamError, match=r"127\.0\.0\.1"),
    ):
        await fetch_tools(Upstream(url=url))


async def test_command_that_does_not_exist_is_an_upstream_error() -> None:
    with anyio.fail_after(30), pytest.raises(UpstreamError, match="No such file"):
        await fetch_tools(Upstream(command=("/nonexistent/mcp-server",)))


async def test_command_that_exits_at_once_is_an_upstream_error() -> None:
    with anyio.fail_after(30), pytest.raises(UpstreamError, match="Connection closed"):
        await fetch_tools(Upstream(command=(sys.executable, "-c", "raise SystemExit(0)")))


def test_parse_header_splits_on_the_first_colon() -> None:
    assert parse_header("Authorization: Bearer a:b") == ("Authorization", "Bearer a:b")
    with pytest.raises(ValueError, match="Name: value"):
        parse_header("no colon here")


@pytest.mark.parametrize(
    ("url", "headers", "command", "problem"),
    [
        (None, [], [], "no upstream"),
        ("http://x/mcp", [], ["--", "cmd"], "not both"),
        (None, ["A: b"], ["cmd"], "only applies"),
    ],
)
def test_upstream_from_args_rejects_unclear_targets(
    url: str | None, headers: list[str], command: list[str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        upstream_from_args(url, headers, command)


def test_upstream_from_args_drops_the_double_dash() -> None:
    assert upstream_from_args(None, [], ["--", "srv", "-v"]).command == ("srv", "-v")
