"""`bench/proxy.py --telemetry` times callgate with metrics and traces on, beside callgate."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_proxy_benchmark_times_callgate_with_telemetry(tmp_path: Path) -> None:
    output = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / "proxy.py"), "--calls", "10", "--warmup", "2"]
    subprocess.run(
        [*command, "--telemetry", "--json", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    figures = json.loads(output.read_text())
    paths = {(m["transport"], m["path"]) for m in figures["measurements"]}
    assert {("stdio", "callgate-telemetry"), ("http", "callgate-telemetry")} <= paths
    for transport in ("stdio", "http"):
        # Ten calls on a busy machine say nothing about the ratio: it is only computed.
        assert math.isfinite(figures["ratios"][transport]["telemetry_vs_callgate"])
