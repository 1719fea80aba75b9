"""Reading recorded calls: the old decision each got, when it was decided, what was kept."""

from __future__ import annotations

from typing import Any

import pytest

from callgate.audit.redaction import ArgumentsMode
from callgate.replay.arguments import NOT_RECORDED, HoleyMapping
from callgate.replay.recorded import OldDecision, read_calls
from tests.replay.records import START, call_record


def _old(record: dict[str, Any], *more: dict[str, Any]) -> OldDecision:
    [call] = read_calls([*more, record]).calls
    return call.old


@pytest.mark.parametrize(
    ("decision", "rule", "expected"),
    [
        ("allow", None, OldDecision("allow", None)),
        ("allow", "ask", OldDecision("approval_required", "ask")),
        ("deny", "no", OldDecision("deny", "no")),
        ("hidden", "hide", OldDecision("hidden", "hide")),
        ("rate_limited", "pace", OldDecision("rate_limited", "pace")),
        ("approval_required", "ask", OldDecision("approval_required", "ask")),
        ("teleported", "x", OldDecision("teleported", "x", known=False)),
    ],
)
def test_the_old_decision_of_each_recorded_verdict(
    decision: str, rule: str | None, expected: OldDecision
) -> None:
    assert _old(call_record(1, "t", {}, decision=decision, rule=rule)) == expected


def test_a_denial_after_an_approval_was_asked_is_a_refused_approval() -> None:
    asked = {
        "event": "approval.requested",
        "at": START.timestamp(),
        "server": "demo",
        "session": "s1",
        "tool": "t",
        "rule": "ask",
    }
    refused = call_record(2, "t", {}, decision="deny", rule="ask")
    assert _old(refused, asked) == OldDecision("approval_required", "ask")
    elsewhere = call_record(2, "t", {}, decision="deny", rule="ask", session="s2")
    assert _old(elsewhere, asked) == OldDecision("deny", "ask")


def test_shadow_verdicts_compare_as_what_the_call_got() -> None:
    shadow = call_record(1, "t", {}, decision="would_deny", rule="strict", enforced="allow")
    assert _old(shadow) == OldDecision("allow", None, shadow="deny", shadow_rule="strict")
    asked = call_record(1, "t", {}, decision="would_require_approval", rule="ask")
    assert _old(asked) == OldDecision("allow", None, shadow="approval_required", shadow_rule="ask")


def test_a_forwarded_call_was_decided_its_latency_before_its_record() -> None:
    reading = read_calls(
        [
            call_record(5, "slow", {}, latency_ms=4000.0),  # decided at 1 s
            call_record(2, "refused", {}, decision="deny", rule="no"),
        ]
    )
    assert [call.tool for call in reading.calls] == ["slow", "refused"]
    slow = reading.calls[0]
    assert slow.decided_at == pytest.approx(START.timestamp() + 1)
    assert slow.answered_at == pytest.approx(START.timestamp() + 5)
    assert slow.ran and not reading.calls[1].ran


def test_refusals_by_the_proxy_and_other_records_are_not_replayed() -> None:
    reading = read_calls(
        [
            call_record(1, "t", {}, decision="deny", rule="fail_mode"),
            call_record(2, "t", {}, decision="deny", rule=None),
            {"time": "2026-12-07T10:00:03.000+00:00", "method": "auth", "decision": "deny"},
            {"method": "tools/call", "decision": "allow"},
            call_record(4, "t", {}),
        ]
    )
    assert len(reading.calls) == 1
    assert reading.skipped == {
        "refused by the proxy, not a policy (state store down, counters kept changing)": 2,
        "a record without its tool or time": 1,
    }


def test_what_each_record_kept_of_the_arguments() -> None:
    unrecordable = {**call_record(4, "t"), "arguments": "[not recorded: too deep]"}
    full, redacted, hashed, broken = read_calls(
        [
            call_record(1, "t", {"a": 1}),
            call_record(2, "t", {"a": "[redacted]"}, redacted=["/a"]),
            call_record(3, "t"),
            unrecordable,
        ]
    ).calls
    assert (full.kept, full.arguments) == (ArgumentsMode.FULL, {"a": 1})
    assert redacted.kept is ArgumentsMode.REDACTED
    assert isinstance(redacted.arguments, HoleyMapping)
    assert redacted.recorded_arguments == {"a": "[redacted]"}
    assert (hashed.kept, hashed.arguments) == (ArgumentsMode.HASH, NOT_RECORDED)
    assert (broken.kept, broken.arguments) == (ArgumentsMode.HASH, NOT_RECORDED)
