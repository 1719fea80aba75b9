"""Replay over the log `callgate demo` writes (real processes: an agent, the proxy, the
demo server, approvals asked and answered): its own policy changes nothing, a stricter
one changes exactly what it tightens, approvals included."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from callgate.cli.main import main
from tests.fixtures.servers.commands import CALLGATE, ROOT

pytestmark = pytest.mark.slow

DEMO_POLICY = ROOT / "src" / "callgate" / "demo" / "policy.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's audit directory and the key that chains it."""
    home = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [*CALLGATE, "demo", "--audit", str(home / "audit")],
        cwd=ROOT,
        env={**os.environ, "XDG_DATA_HOME": str(home / "data")},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home / "audit", home / "data" / "callgate" / "audit.key"


def _replay(demo: tuple[Path, Path], policy: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    audit, key = demo
    code = main(
        ["replay", "-c", str(policy), "--audit", str(audit), "--key", str(key), "--format", "json"]
    )
    return code, json.loads(capsys.readouterr().out)


def test_the_demo_policy_changes_nothing_in_its_own_log(
    demo: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Approved, refused and pending approvals, a rate limit, a refusal of the arguments,
    # a hidden tool: each judged again as it was.
    code, data = _replay(demo, DEMO_POLICY, capsys)
    assert (code, data["calls"], data["unchanged"], data["groups"]) == (0, 16, 16, [])


def test_a_stricter_demo_policy_changes_what_it_tightens(
    demo: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(
        DEMO_POLICY.read_text()
        .replace('value: ["ls", "whoami", "uptime"]', 'value: ["whoami", "uptime"]')
        .replace("{max: 3, window: minute}", "{max: 2, window: minute}")
        .replace("value: 100\n", "value: 1000\n")
    )
    code, data = _replay(demo, stricter, capsys)
    assert code == 1
    changes = [
        (
            g["title"],
            g["old"]["rule"],
            g["new"]["rule"],
            g["count"],
            [e["arguments"] for e in g["examples"]],
        )
        for g in data["groups"]
    ]
    assert changes == [
        # The refund a person refused, asked for twice: no approval needed under 1000.
        ("now allowed", "refunds-over-100", None, 2, [{"amount": 900, "order_id": "o-9"}] * 2),
        ("now denied", None, "safe-commands-only", 1, [{"command": "ls"}]),
        ("now rate limited", None, "reads-per-minute", 1, [{"record_id": "r-3"}]),
    ]
