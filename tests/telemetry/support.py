"""What the telemetry tests share: the fixture policy, reading parsed families, and an HTTP
server on loopback that keeps every request it is sent (a pushgateway, an OTLP collector)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.metrics_core import Metric

Labels = tuple[tuple[str, str], ...]

ECHO_POLICY = """\
version: "1"
default: allow
tools:
  echo:
    rules:
      - name: no-secrets
        on_deny: "no secrets"
        conditions:
          - {path: args.text, op: not_regex, value: secret}
"""
"""`echo` is denied by rule `no-secrets` when its text says "secret"; all else is allowed."""


def samples(family: Metric, name: str) -> dict[Labels, float]:
    """The values of the samples called `name`, keyed by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in family.samples
        if sample.name == name
    }


def echo_labels(decision: str, rule: str, tool: str = "echo") -> Labels:
    """The labels of one `callgate_decisions_total` series of the `fixture` server."""
    return (("decision", decision), ("rule", rule), ("server", "fixture"), ("tool", tool))


@dataclass
class Receiver:
    """Where a `receiving` server is, and each request it got: (method, path, body)."""

    url: str
    received: list[tuple[str, str, bytes]] = field(default_factory=list)


class _Keeper(BaseHTTPRequestHandler):
    receiver: Receiver

    def _keep(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.receiver.received.append((self.command, self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self._keep()

    def do_POST(self) -> None:
        self._keep()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def receiving() -> Iterator[Receiver]:
    """An HTTP server on a free loopback port answering 200 to every PUT and POST."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Keeper)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Keeper", (_Keeper,), {"receiver": receiver})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
