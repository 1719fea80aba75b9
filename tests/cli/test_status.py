"""`callgate status` over an audit log written by the real audit sink."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from callgate.cli.main import main
from callgate.proxy.audit import JsonlAuditSink, build_event


def _write_log(path: Path) -> None:
    sink = JsonlAuditSink(path)
    plan = [
        ("read", "allow", None, 10.0, "ok"),
        ("read", "allow", None, 30.0, "ok"),
        ("read", "allow", None, 20.0, "tool_error"),
        ("delete", "deny", "no-deletes", None, None),
        ("delete", "deny", "no-deletes", None, None),
        ("pay", "rate_limited", "pay-limit", None, None),
    ]
    for number, (tool, decision, rule, latency, outcome) in enumerate(plan):
        sink.record(
            build_event(
                now=1_800_000_000.0 + number,
                server="srv",
                session="s",
                agent="a",
                method="tools/call",
                tool=tool,
                decision=decision,
                rule=rule,
                reason="",
                arguments_hmac=None,
                latency_ms=latency,
                outcome=outcome,
            )
        )
    sink.record(
        build_event(
            now=1_800_000_010.0,
            server="srv",
            session="",
            agent="",
            method="auth",
            tool=None,
            decision="deny",
            rule="agents",
            reason="missing bearer token",
        )
    )
    anyio.run(sink.aclose)


def test_status_counts_decisions_rules_and_latency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit.jsonl"
    _write_log(audit)
    with audit.open("a") as file:
        file.write("not json\n")
    assert main(["status", "--audit", str(audit)]) == 0
    output = capsys.readouterr().out
    assert "6 calls judged" in output
    assert "3 allowed, 3 stopped" in output
    assert "no-deletes" in output
    assert "p50 20.0 ms, p99 30.0 ms" in output
    assert "1 unreadable lines skipped" in output
    assert "Also decided: auth deny x 1" in output


def test_status_without_a_log_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--audit", str(tmp_path / "missing.jsonl")]) == 1
    assert "cannot read the audit log" in capsys.readouterr().err
