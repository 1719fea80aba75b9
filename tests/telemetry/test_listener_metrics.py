"""`callgate run --listen --metrics`: a real scrape of `/metrics` after real MCP traffic.

A real `callgate run` process listens on loopback in front of the SDK fixture server; the
official SDK client makes allowed, denied and rate-limited calls; an HTTP GET of
`/metrics` is parsed with `prometheus_client`'s own parser and the counts must be exact.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.servers.commands import ROOT, SDK_SERVER, callgate_run
from tests.telemetry.support import ECHO_POLICY, echo_labels, samples

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = (
    ECHO_POLICY
    + """\
  add:
    rules:
      - name: add-rate
        rate_limit: 2/minute
"""
)


@asynccontextmanager
async def listening(tmp_path: Path, *flags: str) -> AsyncIterator[str]:
    """`callgate run --listen 127.0.0.1:0 ... -- SDK_SERVER`; yields its base URL."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    listen = ["--server-name", "fixture", "--listen", "127.0.0.1:0", *flags]
    command = callgate_run(policy, tmp_path / "audit", SDK_SERVER, *listen)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    process = await anyio.open_process(command, cwd=ROOT, env=env)
    try:
        assert process.stderr is not None
        seen = b""
        with anyio.fail_after(30):
            while b"callgate listening on " not in seen:
                seen += await process.stderr.receive()
        url = seen.split(b"callgate listening on ", 1)[1].split(b"\n", 1)[0].decode().strip()
        yield url.removesuffix("/mcp")
    finally:
        process.terminate()
        with anyio.fail_after(15):
            await process.wait()
        await process.aclose()


async def test_a_scrape_counts_every_decision_by_tool_and_rule(tmp_path: Path) -> None:
    with anyio.fail_after(90):
        async with (
            listening(tmp_path, "--metrics") as base,
            Client(streamable_http_client(f"{base}/mcp"), mode="legacy") as client,
        ):
            for text in ("a", "b", "c"):
                assert not (await client.call_tool("echo", {"text": text})).is_error
            assert (await client.call_tool("echo", {"text": "my secret"})).is_error
            added = [await client.call_tool("add", {"a": 1, "b": n}) for n in range(3)]
            assert [result.is_error for result in added] == [False, False, True]
            async with httpx2.AsyncClient(timeout=30) as http:
                scrape = await http.get(f"{base}/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(scrape.text)}
    decisions = samples(families["callgate_decisions"], "callgate_decisions_total")
    assert decisions == {
        echo_labels("allow", "", "echo"): 3.0,
        echo_labels("deny", "no-secrets", "echo"): 1.0,
        echo_labels("allow", "", "add"): 2.0,
        echo_labels("rate_limited", "add-rate", "add"): 1.0,
    }
    judged = samples(families["callgate_gate_seconds"], "callgate_gate_seconds_count")
    assert judged == {
        (("decision", "allow"), ("server", "fixture")): 5.0,
        (("decision", "deny"), ("server", "fixture")): 1.0,
        (("decision", "rate_limited"), ("server", "fixture")): 1.0,
    }
    answered = samples(families["callgate_upstream_seconds"], "callgate_upstream_seconds_count")
    assert answered == {(("outcome", "ok"), ("server", "fixture")): 5.0}
    pending = samples(families["callgate_approvals_pending"], "callgate_approvals_pending")
    assert pending == {}  # no call ever waited for approval: no series yet
    assert samples(families["callgate_store_errors"], "callgate_store_errors_total") == {}


async def test_metrics_are_not_served_without_the_flag(tmp_path: Path) -> None:
    with anyio.fail_after(60):
        async with listening(tmp_path) as base, httpx2.AsyncClient(timeout=30) as http:
            scrape = await http.get(f"{base}/metrics")
    assert scrape.status_code == 404
