"""Putting telemetry together for one proxy run (called by the CLI and the composition root).

`build_telemetry` turns the operator's `TelemetrySettings` (`settings.py`) into a
`Telemetry` (or None when nothing is asked for), choosing multiprocess mode before any
family exists and setting up the OTLP exporter (`TracingSetupError` when it is configured
but not installed).
`run_telemetry` keeps it working while the proxy runs: pushes to the pushgateway, and on
the way out pushes once more, drops this process's live gauges from the directory and
flushes the spans still queued.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.registry import Collector

from callgate.telemetry.exposition import Pusher, directory_registry, forget_process
from callgate.telemetry.metrics import CallMetrics, use_directory
from callgate.telemetry.recorder import Telemetry
from callgate.telemetry.settings import TelemetrySettings
from callgate.telemetry.tracing import CallTracer, open_otlp_provider

__all__ = ["build_telemetry", "run_telemetry", "scrape_registry"]


def build_telemetry(
    settings: TelemetrySettings, *, tracer_provider: TracerProvider | None = None
) -> Telemetry | None:
    """The telemetry the settings ask for; `tracer_provider` overrides the OTLP one."""
    if not settings.wanted and tracer_provider is None:
        return None
    metrics = None
    if settings.collects_metrics:
        if settings.directory is not None:
            settings.directory.mkdir(parents=True, exist_ok=True)
            use_directory(str(settings.directory))
        metrics = CallMetrics()
    if tracer_provider is None and settings.otlp_endpoint is not None:
        tracer_provider = open_otlp_provider(settings.otlp_endpoint)
    tracer = CallTracer(tracer_provider) if tracer_provider is not None else None
    return Telemetry(metrics=metrics, tracer=tracer)


def scrape_registry(telemetry: Telemetry, settings: TelemetrySettings) -> Collector:
    """What a scrape of this process shows: the directory's sum, or its own families."""
    assert telemetry.metrics is not None, "no metrics are kept"
    if settings.directory is not None:
        return directory_registry(str(settings.directory))
    return telemetry.metrics.registry


@asynccontextmanager
async def run_telemetry(
    telemetry: Telemetry | None, settings: TelemetrySettings
) -> AsyncIterator[None]:
    """Push while the block runs; at its end push once more, tidy up and flush spans."""
    if telemetry is None:
        yield
        return
    pusher = None
    if telemetry.metrics is not None and settings.pushgateway is not None:
        instance = settings.instance or f"{socket.gethostname()}:{os.getpid()}"
        pusher = Pusher(
            settings.pushgateway,
            telemetry.metrics.registry,
            instance,
            interval=settings.push_interval,
        )
    try:
        async with anyio.create_task_group() as group:
            if pusher is not None:
                group.start_soon(pusher.run)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if pusher is not None:
                await pusher.push_now()
            if settings.directory is not None:
                forget_process(str(settings.directory))
            await anyio.to_thread.run_sync(telemetry.close)
