"""`bench/results.py` runs end to end and measures every case it names.

Timings are not judged here (a busy machine is no place for them): the checks are that
every case was timed, and that each found what it was built to hold.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_results_benchmark_times_every_case(tmp_path: Path) -> None:
    output = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / "results.py"), "--loops", "5", "--repeat", "1"]
    run = subprocess.run(
        [*command, "--json", str(output)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stderr  # 1: a target missed on this machine
    figures = json.loads(output.read_text())
    rows = {row["case"]: row for row in figures["rows"]}
    assert list(rows) == ["text, clean", "text, 3 secrets", "text, injection", "structured, clean"]
    assert all(row["guard_us"] > 0 and row["bytes"] > 10_000 for row in rows.values())
    assert rows["text, clean"]["found"] == "nothing"
    assert rows["text, clean"]["reencode_us"] == 0
    assert (
        rows["text, 3 secrets"]["found"] == "3 secrets redacted (aws_access_key, jwt, url_password)"
    )
    assert rows["text, 3 secrets"]["reencode_us"] > 0
    assert (
        rows["text, injection"]["found"]
        == "instructions to the model wrapped (ignore_instructions)"
    )
    assert rows["structured, clean"]["found"] == "nothing"
    assert figures["target_us"] == 50.0
    assert ("MISSED" in run.stdout) == (run.returncode == 1)
