"""`callgate demo` as a user runs it: a real process tree, judged by the shipped policy."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.servers.commands import CALLGATE, ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_demo_shows_every_kind_of_decision_quickly(mode: str, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    started = time.monotonic()
    done = subprocess.run(
        [*CALLGATE, "demo", "--mode", mode, "--audit", str(audit)],
        cwd=ROOT,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 60
    output = done.stdout
    for decision in ("allow", "deny", "hidden", "rate_limited", "approval_required"):
        assert f" {decision} " in output
    assert output.count("[callgate] denied by rule") == 6
    for rule in ("no-deletes", "safe-commands-only", "reads-per-minute", "validate_arguments"):
        assert f" {rule} " in output
    assert "expected" not in output
    assert "admin_reset" not in output.splitlines()[1]  # the tools the agent sees
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    decisions = [record["decision"] for record in records if "decision" in record]
    assert len(decisions) == 12
    assert decisions.count("allow") == 6
    assert decisions.count("rate_limited") == 1
