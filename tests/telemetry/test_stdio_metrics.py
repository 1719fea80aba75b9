"""A stdio proxy's metrics: a multiprocess directory shared by proxies, or a pushgateway.

Real `callgate run` processes in front of the SDK fixture server, driven by the official
SDK client over stdio; the directory is read back with `prometheus_client`'s
`MultiProcessCollector`, the pushgateway is a real HTTP server that keeps what it is sent.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.servers.commands import ROOT, SDK_SERVER, callgate_run, stdio_params
from tests.telemetry.support import ECHO_POLICY, echo_labels, samples

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


class _Gateway(BaseHTTPRequestHandler):
    pushes: list[tuple[str, str]]

    def do_PUT(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.pushes.append((self.path, self.rfile.read(length).decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A pushgateway stand-in on loopback: yields its URL and the pushes it received."""
    pushes: list[tuple[str, str]] = []
    handler = type("Gateway", (_Gateway,), {"pushes": pushes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pushes
    finally:
        server.shutdown()
        server.server_close()


async def test_a_stdio_proxy_pushes_its_counts_at_exit(
    tmp_path: Path, gateway: tuple[str, list[tuple[str, str]]]
) -> None:
    url, pushes = gateway
    command = proxy(tmp_path, "--pushgateway", url)
    assert await call_echo(command, tmp_path, ["a", "my secret"]) == [False, True]
    assert pushes, "nothing was pushed"
    path, body = pushes[-1]
    assert path.startswith("/metrics/job/callgate/instance/")
    families = {family.name: family for family in text_string_to_metric_families(body)}
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
