"""Where the metrics go: a `/metrics` ASGI app, a multiprocess directory, a pushgateway.

- `build_metrics_app(registry, token=...)` serves the Prometheus text format (OpenMetrics
  when the scraper asks for it). Loopback clients are served as they are; any other client
  needs `Authorization: Bearer <token>`, the operators' admin token (403 when no token is
  configured, 401 when it is missing or wrong). The HTTP listener mounts it at `/metrics`;
  any other Starlette app (a console) can mount it the same way.
- A stdio proxy serves no HTTP: with a directory (`use_directory`), every process writes its
  values to files there and `directory_registry` reads them all back, summed; or each
  process pushes its own values to a pushgateway (`Pusher`) every few seconds and at exit.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import anyio
import anyio.to_thread
from prometheus_client import CollectorRegistry, make_asgi_app, multiprocess, push_to_gateway
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from callgate.telemetry.settings import PUSH_INTERVAL

__all__ = [
    "MetricsRefusal",
    "Pusher",
    "build_metrics_app",
    "directory_registry",
    "forget_process",
    "metrics_refusal",
]

PUSH_TIMEOUT: Final = 10.0
JOB: Final = "callgate"


@dataclass(frozen=True, slots=True)
class MetricsRefusal:
    """Why a scrape is refused: the HTTP status and a reason."""

    status: int
    reason: str


def metrics_refusal(
    client: str | None, authorization: str | None, token_digest: bytes | None
) -> MetricsRefusal | None:
    """None when the scrape may be served: from loopback, or with the admin token.

    `client` is the peer's address, `authorization` the request's header, `token_digest`
    the SHA-256 of the admin token (None: no token configured, loopback only). The token is
    compared as the admin API compares it: digests, in constant time.
    """
    if client is not None and _is_loopback(client):
        return None
    if token_digest is None:
        return MetricsRefusal(
            403, "metrics are served to loopback clients only (no admin token is configured)"
        )
    scheme, _, given = (authorization or "").partition(" ")
    digest = hashlib.sha256(given.strip().encode()).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(digest, token_digest):
        return MetricsRefusal(401, "a valid admin bearer token is required")
    return None


def build_metrics_app(registry: Collector, *, token: str | None = None) -> ASGIApp:
    """The scrape endpoint over `registry`, behind `metrics_refusal`."""
    digest = hashlib.sha256(token.encode()).digest() if token else None
    exposition = make_asgi_app(registry)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        client = request.client.host if request.client is not None else None
        refusal = metrics_refusal(client, request.headers.get("authorization"), digest)
        if refusal is None:
            await exposition(scope, receive, send)
            return
        headers = {"WWW-Authenticate": 'Bearer realm="callgate-admin"'}
        answer = JSONResponse(
            {"error": refusal.reason},
            status_code=refusal.status,
            headers=headers if refusal.status == 401 else None,
        )
        await answer(scope, receive, send)

    return app


def directory_registry(path: str) -> CollectorRegistry:
    """A registry reading every process's values from the multiprocess directory `path`."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def forget_process(path: str, pid: int | None = None) -> None:
    """Drop this process's live gauges from the directory (at exit); counters stay."""
    pid = os.getpid() if pid is None else pid
    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


@dataclass
class Pusher:
    """Pushes one process's registry to a pushgateway, grouped by `instance`."""

    gateway: str
    registry: Collector
    instance: str
    interval: float = PUSH_INTERVAL
    push: Callable[..., None] = field(default=push_to_gateway)
    failures: int = 0

    async def run(self) -> None:
        """Push every `interval` seconds until cancelled (run it in a task group)."""
        while True:
            await anyio.sleep(self.interval)
            await self.push_now()

    async def push_now(self) -> None:
        """One push, in a worker thread; a failure is said on stderr and tried again later."""
        try:
            await anyio.to_thread.run_sync(self._push)
        except OSError as error:
            self.failures += 1
            if self.failures == 1 or self.failures % 20 == 0:
                print(
                    f"callgate: pushing metrics to {self.gateway} failed ({error}); trying again",
                    file=sys.stderr,
                )

    def _push(self) -> None:
        self.push(
            self.gateway,
            job=JOB,
            registry=self.registry,
            grouping_key={"instance": self.instance},
            timeout=PUSH_TIMEOUT,
        )


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)
