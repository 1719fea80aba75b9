"""Judging recorded calls again: the engine's decisions, counters simulated in time order."""

from __future__ import annotations

from typing import Any

import pytest

from callgate.policy.compiler import load_compiled_policy
from callgate.replay import Judged, judge_calls, read_calls
from callgate.replay.simulation import NewDecision, longest_window
from callgate.state.memory import MemoryStore
from callgate.state.sqlite import SqliteStore
from tests.replay.records import call_record

pytestmark = pytest.mark.anyio


async def _replay(policy_text: str, records: list[dict[str, Any]]) -> list[Judged]:
    policy = load_compiled_policy(policy_text)
    return await judge_calls(policy, read_calls(records).calls, MemoryStore())


def _verdicts(judged: list[Judged]) -> list[str | None]:
    return [one.new.verdict if one.new else None for one in judged]


PACE = """version: "1"
tools:
  search:
    rules:
      - {name: pace, rate_limit: {max: 3, window: 60}}
"""


async def test_a_rate_limit_refuses_the_call_after_the_nth_in_its_window() -> None:
    records = [call_record(second, "search", {"q": str(second)}) for second in (0, 10, 20, 30, 61)]
    judged = await _replay(PACE, records)
    assert _verdicts(judged) == ["allow", "allow", "allow", "rate_limited", "allow"]
    assert judged[3].new == NewDecision(
        "rate_limited", "pace", "Rate limit of 3 per minute reached. Try again later."
    )


async def test_calls_refused_by_the_new_policy_or_failing_upstream_do_not_count() -> None:
    records = [
        call_record(0, "search", {}, outcome="tool_error"),
        call_record(1, "search", {}, outcome="error"),
        call_record(2, "search", {}),
        call_record(3, "other", {}),
        call_record(4, "search", {}),
        call_record(5, "search", {}, decision="deny", rule="old-rule"),  # refused then
        call_record(6, "search", {}),
    ]
    judged = await _replay(PACE, records)
    assert _verdicts(judged) == ["allow"] * 6 + ["rate_limited"]


async def test_a_call_still_in_flight_holds_its_slot_until_its_answer() -> None:
    # Decided at 0 s, answered at 30 s (failed): the calls at 10 and 20 s see its slot.
    records = [
        call_record(30, "search", {}, outcome="timeout", latency_ms=30_000.0),
        call_record(10, "search", {}),
        call_record(20, "search", {}),
        call_record(31, "search", {}),
        call_record(32, "search", {}),
    ]
    judged = await _replay(PACE.replace("max: 3", "max: 2"), records)
    assert [one.call.time[17:19] for one in judged] == ["30", "10", "20", "31", "32"]
    assert _verdicts(judged) == ["allow", "allow", "rate_limited", "allow", "rate_limited"]


SPEND = """version: "1"
tools:
  charge:
    rules:
      - name: big charges
        action: require_approval
        conditions: [{path: args.amount, op: gt, value: 500}]
      - name: daily cap
        conditions: [{path: state.charge.spend, op: lte, value: 2000}]
        state: {counter: spend, window: day, increment_from: args.amount}
"""


async def test_a_spend_cap_counts_what_ran_and_approvals_that_ran() -> None:
    records = [
        call_record(0, "charge", {"amount": 400}),
        call_record(1, "charge", {"amount": 300}, outcome="tool_error"),  # rolled back
        call_record(2, "charge", {"amount": 600}, decision="allow", rule="big charges"),
        call_record(3, "charge", {"amount": 700}, decision="approval_required", rule="big charges"),
        call_record(4, "charge", {"amount": 500}),  # 1500: the failed and the unapproved
        call_record(5, "charge", {"amount": 500}),  # calls did not count; 2000 is the cap
        call_record(6, "charge", {"amount": 1}),
    ]
    judged = await _replay(SPEND, records)
    assert _verdicts(judged) == [
        "allow",
        "allow",
        "approval_required",
        "approval_required",
        "allow",
        "allow",
        "deny",
    ]
    assert judged[6].new is not None and judged[6].new.rule == "daily cap"


async def test_the_same_answers_with_another_counter_store(tmp_path: Any) -> None:
    records = [call_record(second, "search", {}) for second in range(5)]
    policy = load_compiled_policy(PACE)
    store = SqliteStore(tmp_path / "state.db")
    try:
        judged = await judge_calls(policy, read_calls(records).calls, store)
    finally:
        await store.aclose()
    assert _verdicts(judged) == ["allow"] * 3 + ["rate_limited"] * 2


async def test_roles_come_from_the_new_policys_agents() -> None:
    policy = """version: "1"
agents:
  - {name: tester, roles: [deployer], token_sha256: "%s"}
tools:
  deploy:
    rules:
      - name: deployers
        conditions: [{path: agent.roles, op: contains, value: deployer}]
""" % ("0" * 64)
    records = [call_record(0, "deploy", {}), call_record(1, "deploy", {}, agent="intern")]
    assert _verdicts(await _replay(policy, records)) == ["allow", "deny"]


async def test_a_refusal_of_the_arguments_stands_when_the_new_policy_validates_them() -> None:
    policy = """version: "1"
tools:
  place:
    validate_arguments: true
"""
    refused = call_record(
        0, "place", {"n": "x"}, decision="deny", rule="validate_arguments", reason="n: not int"
    )
    judged = await _replay(policy, [refused, call_record(1, "place", {"n": 1})])
    assert [one.new for one in judged] == [
        NewDecision("deny", "validate_arguments", "n: not int"),
        NewDecision("allow", None, ""),
    ]
    unvalidated = await _replay('version: "1"\n', [refused])
    assert _verdicts(unvalidated) == ["allow"]


FLAGGED = """version: "1"
flags:
  money:
    rules: [{name: no money, action: deny}]
tools:
  reviewed:
    flags: []
"""


async def test_a_policy_with_flag_entries_cannot_tell_calls_whose_flags_were_not_recorded() -> None:
    records = [
        call_record(0, "pay", {}, flags=None),
        call_record(1, "pay", {}, flags=["money"]),
        call_record(2, "pay", {}, flags=[]),
        call_record(3, "reviewed", {}, flags=None),  # its entry says: no flags
    ]
    judged = await _replay(FLAGGED, records)
    assert _verdicts(judged) == [None, "deny", "allow", "allow"]
    assert judged[0].unknown == (
        "cannot tell: the tool's risk flags were not recorded "
        "(the policy in force then had no flags: block)"
    )


async def test_a_policy_with_category_entries_cannot_tell_calls_without_a_category() -> None:
    policy = """version: "1"
categories:
  destructive:
    rules: [{name: ask, action: require_approval}]
"""
    judged = await _replay(policy, [call_record(0, "drop", {}, category=None)])
    assert judged[0].unknown == "cannot tell: the tool's risk category was not recorded"
    judged = await _replay(policy, [call_record(0, "drop", {}, category="destructive")])
    assert _verdicts(judged) == ["approval_required"]


async def test_a_condition_on_a_redacted_value_cannot_tell_and_charges_nothing() -> None:
    policy = (
        PACE
        + """      - name: no admin token
        conditions: [{path: args.token, op: neq, value: admin}]
"""
    )
    records = [
        call_record(0, "search", {"token": "[redacted]"}, redacted=["/token"]),
        *[call_record(second, "search", {"token": "user"}) for second in (1, 2, 3)],
    ]
    judged = await _replay(policy, records)
    assert _verdicts(judged) == [None, "allow", "allow", "allow"]  # max 3: it took no slot
    assert judged[0].unknown == "cannot tell: condition on redacted value at /token"


def test_the_longest_window_is_how_far_back_calls_count() -> None:
    assert longest_window(load_compiled_policy(PACE)) == 60
    assert longest_window(load_compiled_policy(SPEND)) == 86_400
    assert longest_window(load_compiled_policy('version: "1"\n')) == 0
