"""A stdio proxy's metrics: a multiprocess directory shared by proxies, or a pushgateway.

Real `callgate run` processes in front of the SDK fixture server, driven by the official
SDK client over stdio; the directory is read back with `prometheus_client`'s
`MultiProcessCollector`, the pushgateway is a real HTTP server that keeps what it is sent.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.servers.commands import ROOT, SDK_SERVER, callgate_run, stdio_params
from tests.telemetry.support import ECHO_POLICY, Receiver, echo_labels, receiving, samples

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def proxy(tmp_path: Path, *flags: str) -> list[str]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(ECHO_POLICY)
    return callgate_run(policy, tmp_path / "audit", SDK_SERVER, "--server-name", "fixture", *flags)


async def call_echo(command: list[str], tmp_path: Path, texts: list[str]) -> list[bool]:
    """Call `echo` once per text through a stdio proxy; whether each was refused."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env), mode="legacy") as client:
            return [(await client.call_tool("echo", {"text": text})).is_error for text in texts]


async def test_proxies_sharing_a_directory_are_read_back_summed(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    command = proxy(tmp_path, "--metrics-dir", str(directory))
    first = await call_echo(command, tmp_path, ["a", "b", "my secret"])
    second = await call_echo(command, tmp_path, ["c"])
    assert (first, second) == ([False, False, True], [False])

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    text = generate_latest(registry).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    decisions = samples(families["callgate_decisions"], "callgate_decisions_total")
    assert decisions == {echo_labels("allow", ""): 3.0, echo_labels("deny", "no-secrets"): 1.0}
    answered = samples(families["callgate_upstream_seconds"], "callgate_upstream_seconds_count")
    assert answered == {(("outcome", "ok"), ("server", "fixture")): 3.0}


@pytest.fixture
def gateway() -> Iterator[Receiver]:
    """A pushgateway stand-in on loopback that keeps what it is sent."""
    with receiving() as receiver:
        yield receiver


async def test_a_stdio_proxy_pushes_its_counts_at_exit(tmp_path: Path, gateway: Receiver) -> None:
    command = proxy(tmp_path, "--pushgateway", gateway.url)
    assert await call_echo(command, tmp_path, ["a", "my secret"]) == [False, True]
    assert gateway.received, "nothing was pushed"
    method, path, body = gateway.received[-1]
    assert method == "PUT"
    assert path.startswith("/metrics/job/callgate/instance/")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    decisions = samples(families["callgate_decisions"], "callgate_decisions_total")
    assert decisions == {echo_labels("allow", ""): 1.0, echo_labels("deny", "no-secrets"): 1.0}


def test_metrics_on_stdio_need_somewhere_to_go(tmp_path: Path) -> None:
    result = subprocess.run(
        proxy(tmp_path, "--metrics"), cwd=ROOT, capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 2
    assert b"--metrics without --listen needs --metrics-dir DIR or --pushgateway URL" in (
        result.stderr
    )
