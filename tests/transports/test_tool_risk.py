"""`annotate_tools: true`: every listed tool carries `_meta["callgate/risk"]`, in every mode.

Real `callgate run` processes in front of the SDK fixture server (which sends a `_meta` of
its own on `echo`), the official SDK client reading `_meta` from `list_tools()`, for both
protocol generations: stdio in front of a command and of an HTTP upstream, and the HTTP
listener in front of both. What each tool must carry is whatever `classify_tool` says
about the definition the server lists, read directly from the server; apart from that
key, the tool must be exactly what the server sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from callgate.classifier import classify_tool
from tests.e2e.support import ROOT
from tests.transports.test_tool_list_changed import (
    MODES,
    STDIO_SERVER,
    Changes,
    command,
    environment,
    through_listener,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

RISK = "callgate/risk"
ANNOTATING = 'version: "1"\nannotate_tools: true\nhide: [ask]\n'


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(ANNOTATING)
    return path


def definitions(listing: Any) -> dict[str, dict[str, Any]]:
    """Each listed tool as the JSON the client received."""
    return {
        tool.name: tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        for tool in listing.tools
    }


async def direct_tools(upstream: list[str]) -> dict[str, dict[str, Any]]:
    """The server's own tool list, without callgate."""
    if upstream[0] == "--upstream":
        transport: Any = streamable_http_client(upstream[1])
    else:
        transport = StdioServerParameters(command=upstream[1], args=upstream[2:], cwd=ROOT)
    async with Client(transport, mode="legacy") as client:
        return definitions(await client.list_tools())


async def check_annotated(client: Client, upstream: list[str]) -> None:
    """Every tool but the hidden one, as the server sent it plus callgate's risk."""
    proxied = definitions(await client.list_tools())
    direct = await direct_tools(upstream)
    del direct["ask"]
    assert set(proxied) == set(direct)
    for name, tool in proxied.items():
        meta = dict(tool.pop("_meta"))
        risk = meta.pop(RISK)
        if meta:
            tool["_meta"] = meta
        assert tool == direct[name]
        assert risk == classify_tool(direct[name]).to_meta()
    assert proxied["echo"]["_meta"] == {"io.example/owner": "fixtures"}


@pytest.fixture(params=["command", "url"])
def upstream(request: pytest.FixtureRequest, upstream_url: str) -> list[str]:
    """What callgate fronts: a stdio child (`-- CMD`) or an HTTP server (`--upstream`)."""
    if request.param == "command":
        return ["--", *STDIO_SERVER]
    return ["--upstream", upstream_url]


@asynccontextmanager
async def over_stdio(argv: list[str], tmp_path: Path, mode: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env=environment(tmp_path), cwd=ROOT
    )
    async with Client(params, mode=mode) as client:
        yield client


@pytest.mark.parametrize("mode", MODES)
async def test_a_stdio_client_reads_each_tools_risk_from_its_meta(
    policy: Path, tmp_path: Path, upstream: list[str], mode: str
) -> None:
    argv = command(policy, tmp_path, *upstream)
    with anyio.fail_after(60):
        async with over_stdio(argv, tmp_path, mode) as client:
            await check_annotated(client, upstream)


@pytest.mark.parametrize("mode", MODES)
async def test_an_http_client_reads_each_tools_risk_from_its_meta(
    policy: Path, tmp_path: Path, upstream: list[str], mode: str
) -> None:
    argv = command(policy, tmp_path, "--listen", "127.0.0.1:0", *upstream)
    with anyio.fail_after(60):
        async with through_listener(argv, tmp_path, Changes(), mode=mode) as (client, _err):
            await check_annotated(client, upstream)
            if mode == "auto":
                assert client.protocol_version == "2026-07-28"


async def test_without_annotate_tools_the_listing_is_the_servers_own(
    tmp_path: Path, upstream_url: str
) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text('version: "1"\nhide: [ask]\n')
    upstream = ["--upstream", upstream_url]
    argv = command(plain, tmp_path, "--listen", "127.0.0.1:0", *upstream)
    with anyio.fail_after(60):
        async with through_listener(argv, tmp_path, Changes(), mode="auto") as (client, _err):
            proxied = definitions(await client.list_tools())
    direct = await direct_tools(upstream)
    del direct["ask"]
    assert proxied == direct
