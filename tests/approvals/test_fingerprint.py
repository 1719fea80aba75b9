"""The fingerprint binds an approval to one exact call and nothing else."""

from __future__ import annotations

import json

import pytest

from callgate.approvals.fingerprint import canonical_json, fingerprint_call
from callgate.policy.decision import Agent, ToolCall

AGENT = Agent("ops-bot")


def fingerprint(
    arguments: dict[str, object], *, tool: str = "pay", server: str = "stripe", agent: Agent = AGENT
) -> str:
    return fingerprint_call(ToolCall(server, tool, arguments), agent)


def test_key_order_and_whitespace_do_not_matter() -> None:
    one = json.loads('{"amount": 10, "meta": {"a": 1, "b": [1, 2]}}')
    two = json.loads('{"meta":{"b":[1,2],"a":1},"amount":10}')
    assert fingerprint(one) == fingerprint(two)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"amount": 100}, {"amount": 101}),
        ({"amount": 0.1}, {"amount": 0.10000000000000002}),
        ({"amount": 12345678901234567890}, {"amount": 12345678901234567891}),
        ({"flag": True}, {"flag": 1}),
        ({"value": None}, {"value": 0}),
        ({"value": "1"}, {"value": 1}),
        ({"tags": ["a", "b"]}, {"tags": ["b", "a"]}),
        ({"to": "alice"}, {"to": "alice", "cc": "bob"}),
    ],
)
def test_any_change_in_the_arguments_changes_the_fingerprint(
    left: dict[str, object], right: dict[str, object]
) -> None:
    assert fingerprint(left) != fingerprint(right)


def test_server_tool_and_agent_are_part_of_it() -> None:
    base = fingerprint({"amount": 1})
    assert fingerprint({"amount": 1}, tool="refund") != base
    assert fingerprint({"amount": 1}, server="stripe-test") != base
    assert fingerprint({"amount": 1}, agent=Agent("other")) != base


def test_numbers_compare_by_exact_value() -> None:
    assert canonical_json([1, 1.0, 1e0, 100, 1e2, 0.1, -0.0]) == "[1,1,1,1E+2,1E+2,0.1,0]"
    assert canonical_json(12345678901234567890123456789) == "12345678901234567890123456789"


def test_text_is_kept_exactly() -> None:
    assert canonical_json({"b": "ü\n", "a": "x"}) == '{"a":"x","b":"ü\\n"}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: "x"}, object()])
def test_values_json_cannot_carry_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json(value)
