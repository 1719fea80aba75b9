"""Grouping judged calls into a report: what changed, by which rules, with examples."""

from __future__ import annotations

import json

import pytest

from callgate.replay import Change, build_report, read_calls
from callgate.replay.simulation import Judged, NewDecision
from tests.replay.records import call_record


def _judged(*pairs: tuple[dict[str, object], NewDecision | None]) -> list[Judged]:
    calls = read_calls([record for record, _ in pairs]).calls
    return [
        Judged(call, new, None if new else "cannot tell: x")
        for call, (_, new) in zip(calls, pairs, strict=True)
    ]


ALLOW = NewDecision("allow", None, "")


def test_changes_are_grouped_by_old_and_new_decision_and_rule() -> None:
    denied = NewDecision("deny", "small", "too big")
    judged = _judged(
        *[(call_record(n, "add", {"a": n}), denied) for n in range(5)],
        (call_record(5, "add", {"a": 1}), ALLOW),
        (call_record(6, "add", {"a": 1}, decision="deny", rule="old"), ALLOW),
        (call_record(7, "add", {"a": 1}, decision="deny", rule="old"), denied),
        (call_record(8, "add", {"a": 1}), None),
        (call_record(9, "add", {"a": 1}, decision="bogus"), ALLOW),
    )
    report = build_report(judged, {"skipped for a reason": 2}, examples=2)
    assert report.calls == 10
    assert report.counts == {
        Change.UNCHANGED: 1,
        Change.CHANGED: 6,
        Change.OTHER_RULE: 1,
        Change.UNKNOWN: 1,
        Change.NOT_COMPARABLE: 1,
    }
    assert (report.changed, report.unknown) == (6, 2)
    summary = [
        (g.change, g.title, g.old.rule, g.new and g.new.rule, g.count) for g in report.groups
    ]
    assert summary == [
        (Change.CHANGED, "now denied", None, "small", 5),
        (Change.CHANGED, "now allowed", "old", None, 1),
        (Change.OTHER_RULE, "same decision, another rule", "old", "small", 1),
        (Change.UNKNOWN, "cannot tell: x", None, None, 1),
        (
            Change.NOT_COMPARABLE,
            "cannot compare: recorded decision 'bogus' is not one replay knows",
            None,
            None,
            1,
        ),
    ]
    first = report.groups[0]
    assert [example.arguments for example in first.examples] == [{"a": 0}, {"a": 1}]
    assert first.examples[0].new_reason == "too big"


def test_the_json_shape() -> None:
    judged = _judged(
        (call_record(0, "add", {"a": 1}), NewDecision("approval_required", "ask", "why")),
        (call_record(1, "add"), None),
    )
    data = json.loads(json.dumps(build_report(judged).to_dict()))
    assert set(data) == {
        "calls",
        "first",
        "last",
        "unchanged",
        "changed",
        "other_rule",
        "unknown",
        "not_comparable",
        "arguments",
        "skipped",
        "groups",
    }
    assert data["arguments"] == {"full": 1, "redacted": 0, "hash": 1}
    assert data["groups"][0] == {
        "change": "changed",
        "title": "now requires approval",
        "old": {"decision": "allow", "rule": None},
        "new": {"decision": "approval_required", "rule": "ask"},
        "why": None,
        "count": 1,
        "examples": [
            {
                "time": "2026-12-07T10:00:00.000+00:00",
                "server": "demo",
                "agent": "tester",
                "session": "s1",
                "tool": "add",
                "arguments": {"a": 1},
                "old_reason": "",
                "new_reason": "why",
            }
        ],
    }
    assert data["groups"][1]["examples"][0]["arguments"] is None


def test_a_shadow_verdict_is_kept_beside_the_old_decision() -> None:
    shadowed = call_record(0, "add", {}, decision="would_deny", rule="strict")
    report = build_report(_judged((shadowed, NewDecision("deny", "strict", "no"))))
    [group] = report.groups
    assert group.to_dict()["old"] == {
        "decision": "allow",
        "rule": None,
        "shadow": {"decision": "deny", "rule": "strict"},
    }


@pytest.mark.parametrize("examples", [0, 1])
def test_examples_are_bounded(examples: int) -> None:
    judged = _judged(*[(call_record(n, "add", {}), NewDecision("deny", "r", "")) for n in range(3)])
    [group] = build_report(judged, examples=examples).groups
    assert (group.count, len(group.examples)) == (3, examples)
