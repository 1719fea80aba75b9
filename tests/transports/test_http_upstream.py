"""stdio client -> `run_stdio_to_http` -> a real Streamable HTTP MCP server, both generations.

The bridge runs in its own process on real pipes; the official SDK client talks to it over
stdio; the upstream is the SDK's MCPServer served by uvicorn on a loopback port.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult

from tests.transports.helpers import (
    Asked,
    check_answers_never_judged,
    check_asked_before_forwarding,
    check_refused_call_never_arrives,
    closed_port_url,
    text_of,
)

pytestmark = pytest.mark.anyio

GUARD = Path(__file__).parent / "guard.py"
MODES = ["auto", "legacy"]


@asynccontextmanager
async def bridged_client(url: str, record: Path, mode: str, **kwargs: Any) -> AsyncIterator[Client]:
    """An SDK client on stdio to the bridge process in front of `url`."""
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(GUARD), "stdio-to-http", url],
        env={"CALLGATE_TEST_RECORD": str(record), "PATH": "/usr/bin:/bin"},
    )
    async with Client(params, mode=mode, **kwargs) as client:
        yield client


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("mode", MODES)
async def test_calls_reach_the_http_upstream_and_both_directions_are_judged(
    upstream_url: str, tmp_path: Path, mode: str
) -> None:
    record = tmp_path / "record.jsonl"
    with anyio.fail_after(30):
        async with bridged_client(upstream_url, record, mode) as client:
            tools = await client.list_tools()
            result = await client.call_tool("echo", {"text": "hello"})
    assert {tool.name for tool in tools.tools} >= {"echo", "count", "ask"}
    assert text_of(result) == "hello"
    records = read_records(record)
    calls = [
        r for r in records if r["direction"] == "client" and r["body"].get("method") == "tools/call"
    ]
    assert [c["body"]["params"]["name"] for c in calls] == ["echo"]
    call_id = calls[0]["body"]["id"]
    answers = [r for r in records if r["direction"] == "server" and r["body"].get("id") == call_id]
    assert answers and answers[0]["body"]["result"]["content"][0]["text"] == "hello"
    expected_version = "2026-07-28" if mode == "auto" else "2025-11-25"
    assert calls[0]["version"] == expected_version
    # One stdio connection is one callgate session, whatever the upstream's session id.
    assert len({r["session"] for r in records}) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_progress_notifications_arrive_before_the_result(
    upstream_url: str, tmp_path: Path, mode: str
) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    with anyio.fail_after(30):
        async with bridged_client(upstream_url, tmp_path / "r.jsonl", mode) as client:
            result = await client.call_tool("count", {"steps": 3}, progress_callback=on_progress)
    assert text_of(result) == "counted 3"
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


async def test_elicitation_from_the_server_reaches_the_stdio_client(
    upstream_url: str, tmp_path: Path
) -> None:
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"name": "ada"})

    with anyio.fail_after(30):
        async with bridged_client(
            upstream_url, tmp_path / "r.jsonl", "legacy", elicitation_callback=elicit
        ) as client:
            result = await client.call_tool("ask", {})
    assert asked == ["Who are you?"]
    assert text_of(result) == "hello ada"


@pytest.mark.parametrize("mode", MODES)
async def test_a_reply_answers_the_call_and_the_upstream_never_sees_it(
    upstream_url: str, tmp_path: Path, mode: str
) -> None:
    with anyio.fail_after(30):
        async with bridged_client(upstream_url, tmp_path / "r.jsonl", mode) as client:
            await check_refused_call_never_arrives(client)


@pytest.mark.parametrize("mode", MODES)
async def test_operator_headers_reach_the_upstream(
    upstream_url: str, tmp_path: Path, mode: str
) -> None:
    with anyio.fail_after(30):
        async with bridged_client(upstream_url, tmp_path / "r.jsonl", mode) as client:
            result = await client.call_tool("headers", {})
    seen = json.loads(text_of(result))
    assert seen["x-upstream-token"] == "operator-secret"
    if mode == "auto":
        assert seen["mcp-method"] == "tools/call"
        assert seen["mcp-name"] == "headers"
    else:
        assert "mcp-session-id" in seen


async def test_a_dead_upstream_answers_with_an_error_and_settles_the_peer(tmp_path: Path) -> None:
    record = tmp_path / "r.jsonl"
    with anyio.fail_after(30):
        with pytest.raises(ExceptionGroup) as failure:
            async with bridged_client(closed_port_url(), record, "legacy"):
                pass
    assert failure.group_contains(MCPError, match="upstream unreachable", depth=None)
    records = read_records(record)
    assert any(r["direction"] == "lost" for r in records)
    errors = [r for r in records if r["direction"] == "server" and "error" in r["body"]]
    assert errors and errors[0]["body"]["id"] is not None


async def test_a_broken_stream_is_resumed_with_last_event_id(
    upstream_url: str, tmp_path: Path
) -> None:
    seen: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    with anyio.fail_after(30):
        async with bridged_client(upstream_url, tmp_path / "r.jsonl", "legacy") as client:
            result = await client.call_tool("interrupted", {}, progress_callback=on_progress)
    assert text_of(result) == "resumed"
    assert seen == ["before the break", "after the break"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_upstream_that_dies_mid_call_answers_with_an_error(
    upstream_url: str, tmp_path: Path, mode: str
) -> None:
    record = tmp_path / "r.jsonl"
    with anyio.fail_after(30):
        async with bridged_client(upstream_url, record, mode) as client:
            with pytest.raises(MCPError) as failure:
                await client.call_tool("crash", {})
    assert "upstream" in failure.value.error.message
    records = read_records(record)
    call = next(r for r in records if r["body"].get("method") == "tools/call")
    settled = [
        r
        for r in records
        if r["direction"] == "server" and r["body"].get("id") == call["body"]["id"]
    ]
    assert settled and "error" in settled[0]["body"]


@pytest.mark.parametrize("accept", [True, False])
async def test_callgate_can_ask_the_stdio_client_before_forwarding(
    upstream_url: str, tmp_path: Path, accept: bool
) -> None:
    asked = Asked(accept)
    record = tmp_path / "r.jsonl"
    with anyio.fail_after(30):
        async with bridged_client(
            upstream_url, record, "legacy", elicitation_callback=asked
        ) as client:
            await check_asked_before_forwarding(client, asked)
    check_answers_never_judged(read_records(record))


async def test_param_headers_declared_by_a_tool_are_sent_upstream(
    upstream_url: str, tmp_path: Path
) -> None:
    # The SDK server refuses a call whose Mcp-Param-Region header is missing or wrong.
    with anyio.fail_after(30):
        async with bridged_client(upstream_url, tmp_path / "r.jsonl", "auto") as client:
            await client.list_tools()
            result = await client.call_tool("deploy", {"region": "eu-west"})
            seen = json.loads(text_of(await client.call_tool("headers", {})))
    assert text_of(result) == "deployed to eu-west"
    assert "mcp-param-region" not in seen  # only the call that declares it carries it
