"""Load for fleet tests: two `callgate run --listen` instances in front of one upstream,
many concurrent calls from several clients of each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult

from tests.e2e.support import Setup, callgate_listening, connect, http_upstream, seen

CLIENTS_PER_INSTANCE = 4


@dataclass(frozen=True)
class FleetRun:
    """What a fleet run produced: every result, what the upstream ran, each audit log."""

    results: list[CallToolResult]
    upstream_saw: Counter[str]
    audits: list[list[dict[str, Any]]]


async def run_fleet(
    setup: Setup, state: str, tool: str, arguments: Mapping[str, Any], calls: int
) -> FleetRun:
    """Two instances on `state` before one HTTP upstream; `calls` concurrent calls."""
    with anyio.fail_after(120):
        async with (
            http_upstream() as upstream,
            callgate_listening(setup, state, upstream, name="a") as first,
            callgate_listening(setup, state, upstream, name="b") as second,
        ):
            results = await call_from_many_clients([first.url, second.url], tool, arguments, calls)
            upstream_saw = await seen(upstream)
    return FleetRun(results, upstream_saw, [first.audit(), second.audit()])


async def call_from_many_clients(
    urls: Sequence[str], tool: str, arguments: Mapping[str, Any], calls: int
) -> list[CallToolResult]:
    """`calls` concurrent calls of `tool`, spread evenly over `CLIENTS_PER_INSTANCE` clients
    of each URL, half speaking 2025-11-25 and half 2026-07-28; every result."""
    results: list[CallToolResult] = []

    async def one_call(session: Client) -> None:
        results.append(await session.call_tool(tool, dict(arguments)))

    async def client(url: str, mode: str, count: int) -> None:
        async with connect(url, mode=mode) as session, anyio.create_task_group() as tasks:
            for _ in range(count):
                tasks.start_soon(one_call, session)

    per_client = calls // (len(urls) * CLIENTS_PER_INSTANCE)
    async with anyio.create_task_group() as group:
        for index in range(CLIENTS_PER_INSTANCE):
            mode = "legacy" if index % 2 else "auto"
            for url in urls:
                group.start_soon(client, url, mode, per_client)
    return results
