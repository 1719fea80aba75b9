"""The benchmark scripts still run end to end and measure what they claim to.

Each script runs for real (a handful of calls per path) and its `--json` output is read
back. Timings are not judged here (a test is no place for them): the checks are that
every path was measured, and that Redis is asked exactly once to decide a call, which is
a count of commands, not a time.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, tmp_path: Path) -> dict[str, Any]:
    output = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / script), "--calls", "10", "--warmup", "2"]
    subprocess.run(
        [*command, "--json", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=240,
    )
    figures: dict[str, Any] = json.loads(output.read_text())
    return figures


def test_the_proxy_benchmark_measures_every_path(tmp_path: Path) -> None:
    figures = _run("proxy.py", tmp_path)
    paths = {(m["transport"], m["path"]) for m in figures["measurements"]}
    stdio = ["direct", "byte-relay", "relay", "callgate", "callgate-global", "fastmcp"]
    http = ["direct", "relay", "callgate", "callgate-mem", "fastmcp"]
    assert paths == {("stdio", p) for p in stdio} | {("http", p) for p in http}
    assert all(m["p50_ms"] > 0 for m in figures["measurements"])
    # Ten calls on a busy machine can put any difference of medians below zero: the
    # ratios are only checked to be computed, never judged.
    for transport in ("stdio", "http"):
        ratios = figures["ratios"][transport]
        assert math.isfinite(ratios["callgate_vs_relay"])
        assert math.isfinite(ratios["callgate_vs_fastmcp"])
        assert ratios["callgate_peak_rss_mb"] > 0
    assert math.isfinite(figures["ratios"]["stdio"]["callgate_vs_byte_relay"])


@pytest.mark.redis
def test_the_limits_benchmark_counts_one_redis_round_trip_per_decision(tmp_path: Path) -> None:
    figures = _run("limits.py", tmp_path)
    assert [row["path"] for row in figures["rows"]] == [
        "direct", "memory", "sqlite", "redis", "memory+cap", "sqlite+cap", "redis+cap",
    ]  # fmt: skip
    assert all(row["p50_ms"] > 0 for row in figures["rows"])
    trips = figures["redis_round_trips_per_call"]
    assert set(trips) == {"limits", "limits+cap", "limits+cap, 2 instances"}
    assert all(scenario["decision"] == 1.0 for scenario in trips.values())
    assert all(scenario["evalsha"] == 1.0 for scenario in trips.values())
