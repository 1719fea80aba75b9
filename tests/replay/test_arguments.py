"""Recorded arguments with holes: every way the engine reads a redacted value says so."""

from __future__ import annotations

from typing import Any

import pytest

from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.policy.conditions import OPERATORS
from callgate.policy.decision import Decision, Facts, ToolCall, Verdict
from callgate.replay.arguments import (
    NOT_RECORDED,
    HoleyList,
    HoleyMapping,
    ValueNotRecorded,
    parse_pointer,
    with_holes,
)

# A value each operator accepts in a policy, and the recorded (redacted) argument.
OPERATOR_VALUES: dict[str, Any] = {
    "eq": "x",
    "neq": "x",
    "in": ["x"],
    "not_in": ["x"],
    "lt": 5,
    "lte": 5,
    "gt": 5,
    "gte": 5,
    "regex": "^x",
    "not_regex": "^x",
    "contains": "x",
    "exists": True,
    "glob": "x*",
    "path_within": "/tmp",
    "url_host_in": "example.com",
    "length_lte": 3,
    "length_gte": 3,
}
assert set(OPERATOR_VALUES) == OPERATORS


def _policy(condition: str, action: str = "evaluate") -> CompiledPolicy:
    return load_compiled_policy(
        f"""version: "1"
tools:
  t:
    rules:
      - name: r
        action: {action}
        conditions:
          - {condition}
"""
    )


def _judge(policy: CompiledPolicy, arguments: Any) -> Decision:
    return policy.evaluate(ToolCall("s", "t", arguments), Facts(now=0.0))


SECRET = with_holes({"token": "[redacted]", "n": 1}, ["/token"])


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("action", ["evaluate", "require_approval"])
def test_every_operator_on_a_redacted_value_cannot_tell(op: str, action: str) -> None:
    value = OPERATOR_VALUES[op]
    policy = _policy(f"{{path: args.token, op: {op}, value: {value!r}}}", action)
    with pytest.raises(ValueNotRecorded) as raised:
        _judge(policy, SECRET)
    assert (raised.value.pointer, raised.value.why) == ("/token", "redacted")


@pytest.mark.parametrize(
    "condition",
    [
        "not: {path: args.token, op: eq, value: x}",
        "any: [{path: args.token, op: eq, value: x}, {path: args.n, op: eq, value: 2}]",
        "all: [{path: args.n, op: eq, value: 1}, {path: args.token, op: regex, value: x}]",
    ],
)
def test_groups_pass_the_unknown_on(condition: str) -> None:
    with pytest.raises(ValueNotRecorded):
        _judge(_policy(condition), SECRET)


def test_values_around_the_hole_are_judged_as_recorded() -> None:
    assert _judge(_policy("{path: args.n, op: eq, value: 1}"), SECRET).verdict is Verdict.ALLOW
    assert _judge(_policy("{path: args.n, op: eq, value: 2}"), SECRET).verdict is Verdict.DENY
    absent = _policy("{path: args.other, op: exists, value: false}")
    assert _judge(absent, SECRET).verdict is Verdict.ALLOW


def test_a_nested_hole_below_a_wildcard_and_in_a_list() -> None:
    arguments = with_holes(
        {"items": [{"card": "[redacted:card]", "qty": 1}, {"card": "4", "qty": 2}]},
        ["/items/0/card"],
    )
    qty = _policy("{path: 'args.items[*].qty', op: lte, value: 5}")
    assert _judge(qty, arguments).verdict is Verdict.ALLOW
    card = _policy("{path: 'args.items[*].card', op: eq, value: '4'}")
    with pytest.raises(ValueNotRecorded) as raised:
        _judge(card, arguments)
    assert raised.value.pointer == "/items/0/card"
    # The list's length is known; reading an object that holds a hole is not.
    assert _judge(_policy("{path: args.items, op: length_lte, value: 2}"), arguments).allowed
    with pytest.raises(ValueNotRecorded):
        _judge(_policy("{path: 'args.items[0]', op: eq, value: x}"), arguments)


def test_a_list_element_hole_for_contains() -> None:
    arguments = with_holes({"tags": ["a", "[redacted:jwt]", "b"]}, ["/tags/1"])
    assert _judge(_policy("{path: args.tags, op: contains, value: a}"), arguments).allowed
    with pytest.raises(ValueNotRecorded):
        _judge(_policy("{path: args.tags, op: contains, value: b}"), arguments)


def test_a_counter_increment_from_a_redacted_amount_cannot_tell() -> None:
    policy = load_compiled_policy(
        """version: "1"
tools:
  t:
    rules:
      - name: cap
        conditions: [{path: state.t.spend, op: lte, value: 100}]
        state: {counter: spend, window: day, increment_from: args.amount}
"""
    )
    with pytest.raises(ValueNotRecorded) as raised:
        _judge(policy, with_holes({"amount": "[redacted:card]"}, ["/amount"]))
    assert raised.value.pointer == "/amount"


def test_hashed_arguments_cannot_be_read_but_rules_without_arguments_judge() -> None:
    with pytest.raises(ValueNotRecorded) as raised:
        _judge(_policy("{path: args.n, op: exists, value: false}"), NOT_RECORDED)
    assert (raised.value.pointer, raised.value.why) == ("", "hashed")
    deny = load_compiled_policy(
        'version: "1"\ntools:\n  t:\n    rules: [{name: no, action: deny}]\n'
    )
    assert _judge(deny, NOT_RECORDED).verdict is Verdict.DENY


def test_pointers_are_unescaped_and_nested_holes_fold_into_the_outer_one() -> None:
    assert parse_pointer("/a~1b/c~0d/0") == ("a/b", "c~d", "0")
    assert parse_pointer("") == ()
    with pytest.raises(ValueError, match="not a JSON Pointer"):
        parse_pointer("a/b")
    arguments = with_holes({"a/b": {"c": 1}, "k": 2}, ["/a~1b/c", "/a~1b"])
    assert isinstance(arguments, HoleyMapping)
    with pytest.raises(ValueNotRecorded) as raised:
        arguments["a/b"]
    assert raised.value.pointer == "/a~1b"
    assert arguments["k"] == 2


def test_without_pointers_the_arguments_are_returned_as_they_are() -> None:
    arguments = {"a": [1, 2]}
    assert with_holes(arguments, []) is arguments
    holey = with_holes({"a": [1, 2], "b": 1}, ["/a/1", "/missing/x", "/b/0"])
    assert isinstance(holey["a"], HoleyList)
    assert holey["a"][0] == 1
    assert holey["b"] == 1  # a pointer below a number leads nowhere
    assert len(holey["a"]) == 2
    with pytest.raises(ValueNotRecorded):
        holey["a"][1]
    with pytest.raises(ValueNotRecorded):
        holey["a"][0:2]


def test_the_whole_arguments_redacted() -> None:
    arguments = with_holes({}, [""])
    with pytest.raises(ValueNotRecorded) as raised:
        arguments["x"]
    assert (raised.value.pointer, raised.value.why) == ("", "redacted")
