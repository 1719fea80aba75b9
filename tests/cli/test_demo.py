"""`callgate demo` as a user runs it: a real process tree, judged by the shipped policy."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from callgate.audit import read_records
from tests.fixtures.servers.commands import CALLGATE, ROOT

pytestmark = pytest.mark.slow


def _run_demo(mode: str, tmp_path: Path) -> tuple[str, list[dict[str, Any]], float]:
    """The demo's output (captured, so laid out for 120 columns), its audit records, and
    how long it took."""
    audit = tmp_path / "audit"
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
    return done.stdout, read_records(audit), elapsed


def _row(output: str, number: int) -> str:
    """The first line of the table row numbered `number`."""
    [line] = [line for line in output.splitlines() if line.startswith(f"│ {number:>2} │")]
    return line


def _approval_story(output: str, number: int) -> str:
    """What the demo printed about how the approval of row `number` was asked and
    answered, with line wrapping undone."""
    _, story = output.split("Approvals asked and answered:")
    story, _ = story.split("Audit log:")
    part = story.split(f"#{number} ")[1].split("\n#", maxsplit=1)[0]
    return " ".join(part.split())


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_demo_shows_every_kind_of_decision_quickly(mode: str, tmp_path: Path) -> None:
    output, records, elapsed = _run_demo(mode, tmp_path)

    assert elapsed < 60
    assert max(len(line) for line in output.splitlines()) <= 120
    assert "expected" not in output
    assert "admin_reset" not in output.splitlines()[1]  # the tools the agent sees
    expected_rows = {
        1: ("allow", ""),
        4: ("deny", "safe-commands-only"),
        5: ("deny", "no-deletes"),
        6: ("hidden", "hide"),
        7: ("deny", "validate_arguments"),
        8: ("allow", ""),
        9: ("approved", "refunds-over-100"),
        10: ("declined", "refunds-over-100"),
        13: ("rate_limited", "reads-per-minute"),
        14: ("approved", "refunds-over-100"),
    }
    for number, (decision, rule) in expected_rows.items():
        cells = [cell.strip() for cell in _row(output, number).split("│")]
        assert cells[4:6] == [decision, rule], _row(output, number)
    decisions = [record["decision"] for record in records if "decision" in record]
    # On 2026-07-28 the client is asked through an input_required answer (one more
    # decision each time); on 2025-11-25 through elicitation/create while the call waits.
    asked_in_the_answer = 2 if mode == "auto" else 0
    assert decisions.count("approval_required") == asked_in_the_answer
    assert len(decisions) == 14 + asked_in_the_answer
    assert decisions.count("allow") == 8  # 2 of them approved first
    assert decisions.count("deny") == 4  # 1 of them declined by the user
    assert decisions.count("hidden") == 1
    assert decisions.count("rate_limited") == 1
    approved = [r["reason"] for r in records if r.get("decision") == "allow" and r.get("reason")]
    assert sorted(approved) == ["approved by demo-agent via client", "approved by operator via cli"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_demo_asks_for_approvals_and_the_answers_decide(mode: str, tmp_path: Path) -> None:
    output, records, _ = _run_demo(mode, tmp_path)
    # Two proxies and the operator's CLI append to one log, each through its own writer:
    # order the approval events by when they happened, not by when they were written.
    events = sorted((record for record in records if "event" in record), key=lambda e: e["at"])
    kinds = [(event["event"], event["channel"], event["by"]) for event in events]
    assert kinds == [
        ("approval.requested", None, None),
        ("approval.approved", "client", "demo-agent"),
        ("approval.consumed", "client", "demo-agent"),
        ("approval.requested", None, None),
        ("approval.denied", "client", "demo-agent"),
        ("approval.requested", None, None),
        ("approval.approved", "cli", "operator"),
        ("approval.consumed", "cli", "operator"),
    ]
    accepted, declined, by_operator = (events[0], events[3], events[5])

    # Asked in the agent's client, accepted: the prompt it showed, then the real refund.
    story = _approval_story(output, 9)
    assert f"(approval {accepted['approval_id']})" in story
    assert "Tool: issue_refund on server demo" in story
    assert "Risk category: financial" in story
    assert "Rule: refunds-over-100" in story
    assert '"amount": 2500' in story
    assert '-> accepted: "agreed with the customer on the phone"' in story
    assert story.endswith("the agent got: refunded 2500.00 EUR for order o-8")

    # Asked, declined: the call never reached the server and the agent read why.
    story = _approval_story(output, 10)
    assert f"(approval {declined['approval_id']})" in story
    assert '"amount": 900' in story
    assert story.endswith(
        'the agent got: [callgate] denied by rule "refunds-over-100": '
        "denied by demo-agent via client: this order was already refunded"
    )
    assert "o-9" not in _row(output, 10).split("│")[6]

    # No prompt possible: the call waited until the operator's CLI approved it.
    story = _approval_story(output, 14)
    assert f"The call waits in callgate as approval {by_operator['approval_id']}" in story
    assert f"callgate approvals approve {by_operator['approval_id']} --by operator" in story
    assert f"-> approved: approval {by_operator['approval_id']}: approved" in story
    assert story.endswith("the agent got: refunded 5000.00 EUR for order o-10")
    assert events[6]["reason"] == "checked the order; refund is due"
