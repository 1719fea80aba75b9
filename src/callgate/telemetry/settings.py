"""What the operator asked telemetry for: the flags of `callgate run` and the OTEL_* variables.

Kept apart from the rest of the package so that reading the options costs no import of
`prometheus_client` or the OpenTelemetry SDK when telemetry is off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from callgate.errors import CallgateError

__all__ = [
    "OTLP_EXTRA",
    "PUSH_INTERVAL",
    "TelemetrySettings",
    "TracingSetupError",
    "otlp_endpoint_from_env",
    "traces_endpoint",
]

OTLP_EXTRA: Final = "callgate[otlp]"
TRACES_PATH: Final = "/v1/traces"
PUSH_INTERVAL: Final = 15.0
"""Seconds between two pushes to the pushgateway (and one more at exit)."""


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """What the operator asked for (`callgate run --metrics ...`, see docs/metrics.md)."""

    metrics: bool = False
    directory: Path | None = None
    """Multiprocess directory: every process's values as files, read back summed."""
    pushgateway: str | None = None
    push_interval: float = PUSH_INTERVAL
    otlp_endpoint: str | None = None
    """OTLP/HTTP traces URL; None: no spans (unless a provider is handed in)."""
    instance: str | None = None
    """The pushgateway's `instance` grouping key (default: host name and pid)."""

    @property
    def wanted(self) -> bool:
        """Whether anything is to be collected at all."""
        return self.collects_metrics or self.otlp_endpoint is not None

    @property
    def collects_metrics(self) -> bool:
        """Metrics are kept (asked for directly, or by a directory or a pushgateway)."""
        return self.metrics or self.directory is not None or self.pushgateway is not None


class TracingSetupError(CallgateError):
    """Tracing was asked for but cannot be set up (the OTLP exporter is not installed)."""

    code = "telemetry.tracing"


def otlp_endpoint_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The OTLP endpoint the standard variables name, unless they switch tracing off.

    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
    (`/v1/traces` appended); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` mean none.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return traces_endpoint(base) if base else None


def traces_endpoint(url: str) -> str:
    """The OTLP/HTTP traces URL for a collector's base URL (`/v1/traces` added once)."""
    path = urlsplit(url).path.rstrip("/")
    if path.endswith(TRACES_PATH):
        return url
    return url.rstrip("/") + TRACES_PATH
