"""`callgate status` over an audit log written by the real audit sink."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from callgate.audit import JsonlAuditSink, build_event
from callgate.cli.main import main


def _write_log(path: Path) -> None:
    sink = JsonlAuditSink(path, b"k" * 32)
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
    audit = tmp_path / "audit"
    _write_log(audit)
    [chain_file] = audit.glob("*.jsonl")
    with chain_file.open("a") as file:
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


def test_status_sums_every_writer_of_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit"
    _write_log(audit)
    _write_log(audit)  # a second process, its own chain in the same directory
    assert len(list(audit.glob("*.checkpoint.json"))) == 2
    assert main(["status", "--audit", str(audit)]) == 0
    assert "12 calls judged" in capsys.readouterr().out


def test_status_reads_a_log_from_before_chained_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "audit.jsonl"
    old.write_text(
        '{"time": "2026-01-01T00:00:00.000+00:00", "server": "srv", "session": "s", '
        '"agent": "a", "method": "tools/call", "tool": "read", "decision": "allow", '
        '"rule": null, "reason": "", "latency_ms": 5.0, "outcome": "ok"}\n'
    )
    assert main(["status", "--audit", str(old)]) == 0
    assert "1 calls judged" in capsys.readouterr().out
