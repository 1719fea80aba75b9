"""Condition paths: parsing (and its errors) and walking values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.policy.conditions import MISSING, ConditionError, parse_path
from callgate.policy.paths import compile_walk, split_wildcards


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("args.amount", ("args", ("amount",))),
        ("args.metadata.key", ("args", ("metadata", "key"))),
        ("args.items[0].id", ("args", ("items", 0, "id"))),
        ("args.items[12]", ("args", ("items", 12))),
        ("args.items[*].amount", ("args", ("items", "*", "amount"))),
        ("args.matrix[*][*]", ("args", ("matrix", "*", "*"))),
        ("args.Amount", ("args", ("Amount",))),
        ("args.items.0", ("args", ("items", "0"))),  # a dotted number is a key, as in Intercept
        ("args.first name", ("args", ("first name",))),
        ('args["a.b"].c', ("args", ("a.b", "c"))),
        ("args['x]y']", ("args", ("x]y",))),
        ('args["say \\"hi\\""]', ("args", ('say "hi"',))),
        ("state.create_charge.daily_spend", ("state", ("create_charge", "daily_spend"))),
        ("state._global.calls", ("state", ("_global", "calls"))),
        ("state.a.b.c", ("state", ("a", "b.c"))),  # Intercept splits at the first two dots
        ('state["github.create_issue"].count', ("state", ("github.create_issue", "count"))),
        ("agent.name", ("agent", ("name",))),
        ("agent.roles", ("agent", ("roles",))),
    ],
)
def test_parse_path_splits_root_and_segments(
    path: str, parsed: tuple[str, tuple[Any, ...]]
) -> None:
    assert parse_path(path) == parsed


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("amount", "must start with args., state. or agent."),
        ("argsx.amount", "must start with args., state. or agent."),
        ("Args.amount", "must start with args., state. or agent."),
        ("env.HOME", "must start with args., state. or agent."),
        ("args", "names no field"),
        ("args.", "empty segment"),
        ("args..a", "empty segment"),
        ("args.a.", "empty segment"),
        ("args.items[0", "unclosed '['"),
        ("args.items[-1]", "negative index"),
        ("args.items[x]", "is not an index"),
        ("args.items[01]", "is not an index"),
        ("args.items[]", "is not an index"),
        ("args.items[ 1]", "is not an index"),
        ("args.a]", "unexpected ']'"),
        ("args.a[0]x", "unexpected 'x'"),
        ("args.*", "'.*' is not a wildcard"),
        ('args["*"]', "other than '*'"),
        ('args[""]', "other than '*'"),
        ('args["a', "unclosed quoted key"),
        ('args["a"x]', "unclosed quoted key"),
        ("args[0]", "first segment is a key"),
        ("args[*].a", "first segment is a key"),
        ("state.calls", "names a tool and a counter"),
        ("state.t[0].c", "names a tool and a counter"),
        ("state.t[*]", "names a tool and a counter"),
        ("agent.token", "only a name and roles"),
        ("agent.name.first", "only a name and roles"),
    ],
)
def test_parse_path_rejects_malformed_paths_with_a_hint(path: str, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_path(path)
    assert message in caught.value.message
    assert caught.value.hint
    assert caught.value.code == "invalid-condition"


def test_parse_path_rejects_a_non_string() -> None:
    with pytest.raises(ConditionError, match="must be a string"):
        parse_path(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("segments", "value", "expected"),
    [
        (("a",), {"a": 1}, 1),
        (("a", "b"), {"a": {"b": None}}, None),
        (("a", 1), {"a": [10, 20]}, 20),
        (("a", 2), {"a": [10, 20]}, MISSING),
        (("a", 0), {"a": "text"}, MISSING),  # strings are not lists
        (("a", 0), {"a": {"0": "x"}}, MISSING),  # an index is not a key
        (("a", "0"), {"a": ["x"]}, MISSING),  # a key is not an index
        (("a", "b"), {"a": 5}, MISSING),
        (("a", "b"), {"a": [{"b": 1}]}, MISSING),
        (("a",), {"A": 1}, MISSING),  # keys are case-sensitive
        (("a",), [1], MISSING),
        ((), {"a": 1}, {"a": 1}),
    ],
)
def test_walk_follows_keys_and_indexes_or_gives_missing(
    segments: tuple[Any, ...], value: Any, expected: Any
) -> None:
    assert compile_walk(segments)(value) == expected


def test_split_wildcards_cuts_at_each_wildcard() -> None:
    assert split_wildcards(("args", "a", "*", "b", "*", "c")) == (("args", "a"), ("b",), ("c",))
    assert split_wildcards(("args", "a", "*")) == (("args", "a"), ())


keys = st.text(alphabet=st.characters(blacklist_characters=".[]"), min_size=1).filter(
    lambda k: k != "*"
)
segment = st.one_of(keys, st.integers(min_value=0, max_value=10**6), st.just("*"))


def render(segments: list[Any]) -> str:
    text = ""
    for part in segments:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "*":
            text += "[*]"
        else:
            text += "." + part
    return text


@given(first=keys, rest=st.lists(segment, max_size=6))
def test_parse_path_reads_back_any_rendered_args_path(first: str, rest: list[Any]) -> None:
    assert parse_path("args" + render([first, *rest])) == ("args", (first, *rest))


@given(key=st.text(min_size=1).filter(lambda k: k != "*"))
def test_quoted_keys_hold_any_text(key: str) -> None:
    quoted = key.replace("\\", "\\\\").replace('"', '\\"')
    assert parse_path(f'args["{quoted}"]') == ("args", (key,))
