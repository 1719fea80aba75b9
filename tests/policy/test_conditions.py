"""Leaf conditions: each operator's truth table, Intercept's type rules one by one, callgate's
operators, wildcards, compile-time errors, and properties that must hold for any input."""

from __future__ import annotations

import math
import posixpath
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.policy.conditions import (
    MISSING,
    OPERATORS,
    ConditionError,
    compile_condition,
)


def subject(
    args: dict[str, Any] | None = None,
    state: dict[str, dict[str, Decimal]] | None = None,
    agent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "args": {} if args is None else args,
        "state": {} if state is None else state,
        "agent": {"name": "anonymous", "roles": []} if agent is None else agent,
    }


def holds(op: str, value: Any, actual: Any) -> bool:
    """Does `args.x <op> value` hold when the call's `x` argument is `actual`?"""
    return compile_condition("args.x", op, value)(subject({"x": actual}))


def table(*rows: tuple[Any, Any, bool]) -> list[Any]:
    return [
        pytest.param(value, actual, expected, id=f"{actual!r}~{value!r}")
        for value, actual, expected in rows
    ]


# --- Intercept's operators ----------------------------------------------------------------

EQ = table(
    ("main", "main", True),
    ("main", "Main", False),  # case-sensitive
    (5, 5, True),
    (5, 5.0, True),
    (5, Decimal("5.00"), True),
    (0.1, 0.1, True),
    (Decimal("0.1"), 0.1, True),  # a float means its shortest decimal, as the JSON said it
    (0.3, 0.1 + 0.2, False),  # ...and 0.1 + 0.2 is 0.30000000000000004
    (2**53, 2**53 + 1, False),  # exact, where Intercept's float64 would say equal
    # Not both numbers: Go compares fmt.Sprintf("%v") renderings.
    ("5", 5, True),
    (5, "5", True),
    (5, "5.0", False),
    ("1000000", 1000000, False),  # a JSON number renders as float64: 1e+06
    ("1e+06", 1000000, True),
    (1000000, "1000000", True),  # a YAML integer renders as an integer
    ("0.0001", 0.0001, True),
    ("1e-05", 0.00001, True),
    ("1.234567e+06", 1234567, True),
    ("123456", 123456, True),
    ("-0", -0.0, True),
    (True, True, True),
    (True, "true", True),
    ("true", True, True),
    (True, False, False),
    (True, 1, False),  # a boolean is not a number
    (1, True, False),
    (None, None, True),
    (None, "x", False),
    ("<nil>", None, True),
    ([1, 2], [1, 2], True),
    ([1, 2], [2, 1], False),
    ({"b": 1, "a": "x"}, {"a": "x", "b": 1}, True),  # map keys render sorted
    ("map[a:1]", {"a": 1}, True),
    ([1000000], [1000000], False),  # Go renders the JSON one as [1e+06]
)


@pytest.mark.parametrize(("value", "actual", "expected"), EQ)
def test_eq_follows_intercepts_numeric_then_text_comparison(
    value: Any, actual: Any, expected: bool
) -> None:
    assert holds("eq", value, actual) is expected
    assert holds("neq", value, actual) is not expected


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    table(
        (["usd", "eur"], "usd", True),
        (["usd", "eur"], "gbp", False),
        (["usd", "eur"], "USD", False),
        ([1, 5], 5, True),
        ([1, 5], 5.0, True),
        ([1, 5], Decimal("5"), True),
        ([1, 5], 6, False),
        ([5], "5", True),
        (["5"], 5, True),
        (["1000000"], 1000000, False),
        ([True], True, True),
        ([True], "true", True),
        ([True], 1, False),
        ([None], None, True),
        ([], "anything", False),
        ([0.1], 0.1, True),
        ([[1, 2]], [1, 2], True),
    ),
)
def test_in_is_eq_against_any_item_and_not_in_its_negation(
    value: Any, actual: Any, expected: bool
) -> None:
    assert holds("in", value, actual) is expected
    assert holds("not_in", value, actual) is not expected


COMPARISONS = table(
    (10, 5, True),
    (10, 10, False),
    (10, 11, False),
    (10, 9.999, True),
    (0.3, 0.1 + 0.2, False),  # 0.30000000000000004 is not below 0.3
    (Decimal("0.30000000000000004"), 0.1 + 0.2, False),
    (Decimal("0.30000000000000005"), 0.1 + 0.2, True),
    (2**53 + 1, 2**53, True),  # exact beyond float64
    (10**30, 10**30 - 1, True),
    ("19.99", 19.98, True),  # a numeric string value: callgate's extension
    ("19.99", Decimal("19.99"), False),
    # The argument must be a number: strings, booleans, null, lists never compare.
    (10, "5", False),
    (10, True, False),
    (10, False, False),
    (10, None, False),
    (10, [1], False),
    (10, {"a": 1}, False),
    (10, float("nan"), False),
    (10, float("-inf"), False),
    (10, Decimal("NaN"), False),
    (10, Decimal("-Infinity"), False),
)


@pytest.mark.parametrize(("value", "actual", "expected"), COMPARISONS)
def test_lt_compares_numbers_exactly_and_nothing_else(
    value: Any, actual: Any, expected: bool
) -> None:
    assert holds("lt", value, actual) is expected


@pytest.mark.parametrize(
    ("op", "actual", "expected"),
    [
        ("lte", 10, True),
        ("lte", 10.0, True),
        ("lte", Decimal("10.000"), True),
        ("lte", 10.000001, False),
        ("gt", 10, False),
        ("gt", 10.000001, True),
        ("gte", 10, True),
        ("gte", 9, False),
        ("gt", float("inf"), False),  # infinities never pass, even the "right" way
        ("gte", Decimal("Infinity"), False),
        ("gte", "11", False),
        ("gt", True, False),
    ],
)
def test_lte_gt_gte_truth_table(op: str, actual: Any, expected: bool) -> None:
    assert holds(op, 10, actual) is expected


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    table(
        ("hello", "say hello world", True),
        ("", "abc", True),
        ("Hello", "hello", False),
        (5, "a5", False),  # a string is searched only for a string
        ("b", ["a", "b"], True),
        (2, [1, 2], True),
        ("2", [1, 2], True),  # elements compare with eq
        (2, ["2"], True),
        ("X", ["x"], False),
        ("a", {"a": 1}, False),  # objects are not searched
        (5, 5, False),
        (None, [None], True),
        ("a", [], False),
    ),
)
def test_contains_is_substring_on_strings_and_eq_on_list_elements(
    value: Any, actual: Any, expected: bool
) -> None:
    assert holds("contains", value, actual) is expected


@pytest.mark.parametrize(
    ("args", "present"),
    [
        ({"x": 1}, True),
        ({"x": ""}, True),
        ({"x": False}, True),
        ({"x": 0}, True),
        ({"x": []}, True),
        ({"x": None}, False),  # null counts as absent (Intercept: exists && val != nil)
        ({}, False),
        ({"X": 1}, False),
    ],
)
def test_exists_true_means_present_and_not_null_false_means_absent(
    args: dict[str, Any], present: bool
) -> None:
    assert compile_condition("args.x", "exists", True)(subject(args)) is present
    assert compile_condition("args.x", "exists", False)(subject(args)) is not present


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    table(
        ("^feat/", "feat/login", True),
        ("^feat/", "my-feat/login", False),
        ("feat/", "my-feat/login", True),  # unanchored search, as Go's MatchString
        ("5", 5, False),  # the argument must be a string
        ("true", True, False),
        ("^[a-z]+$", "main", True),
        ("^[a-z]+$", "main\n", False),  # RE2's $ is the end of the text
    ),
)
def test_regex_searches_strings_only(value: Any, actual: Any, expected: bool) -> None:
    assert holds("regex", value, actual) is expected
    assert holds("not_regex", value, actual) is (
        expected if not isinstance(actual, str) else not expected
    )


# --- missing values -----------------------------------------------------------------------

ONE_OF_EACH = [
    ("eq", "x"),
    ("neq", "x"),
    ("in", ["x"]),
    ("not_in", ["x"]),
    ("lt", 1),
    ("lte", 1),
    ("gt", 1),
    ("gte", 1),
    ("regex", "x"),
    ("not_regex", "x"),
    ("contains", "x"),
    ("glob", "*"),
    ("path_within", "/"),
    ("url_host_in", ["example.com"]),
    ("length_lte", 10),
    ("length_gte", 0),
]


def test_one_of_each_covers_every_operator_but_exists() -> None:
    assert {op for op, _ in ONE_OF_EACH} | {"exists"} == OPERATORS


@pytest.mark.parametrize(("op", "value"), ONE_OF_EACH)
@pytest.mark.parametrize(
    ("path", "args"),
    [
        ("args.x", {}),
        ("args.x", {"y": "x"}),
        ("args.a.x", {"a": {}}),
        ("args.a.x", {"a": "x"}),  # intermediate is not an object
        ("args.a.x", {}),  # intermediate missing
        ("args.a[3]", {"a": ["x"]}),
        ("args.a[0]", {"a": "x"}),
    ],
)
def test_a_missing_value_fails_every_operator_but_exists(
    op: str, value: Any, path: str, args: dict[str, Any]
) -> None:
    assert compile_condition(path, op, value)(subject(args)) is False
    assert compile_condition(path, "exists", False)(subject(args)) is True


def test_a_subject_without_the_root_fails_closed() -> None:
    assert compile_condition("args.x", "neq", 1)({}) is False
    assert compile_condition("state.t.c", "lt", 1)({"state": None}) is False
    assert compile_condition("args.x", "exists", False)({}) is True


# --- state and agent paths ----------------------------------------------------------------


def test_state_paths_read_counters_and_missing_counters_fail() -> None:
    state = {"create_charge": {"daily_spend": Decimal("999.99")}, "_global": {"calls": Decimal(3)}}
    assert compile_condition("state.create_charge.daily_spend", "lt", 1000)(subject(state=state))
    assert not compile_condition("state.create_charge.daily_spend", "lt", "999.99")(
        subject(state=state)
    )
    assert compile_condition("state._global.calls", "lte", 3)(subject(state=state))
    assert not compile_condition("state._global.other", "lte", 3)(subject(state=state))
    assert not compile_condition("state.refund.daily_spend", "lte", 3)(subject(state=state))


def test_quoted_state_tool_names_may_hold_dots() -> None:
    state = {"github.create_issue": {"count": Decimal(2)}}
    predicate = compile_condition('state["github.create_issue"].count', "lt", 5)
    assert predicate(subject(state=state))


@pytest.mark.parametrize("roles", [["admin", "dev"], ("admin",), frozenset({"admin"})])
def test_agent_roles_contains_works_on_any_collection_of_roles(roles: Any) -> None:
    agent = {"name": "ci-bot", "roles": roles}
    assert compile_condition("agent.roles", "contains", "admin")(subject(agent=agent))
    assert not compile_condition("agent.roles", "contains", "root")(subject(agent=agent))
    assert compile_condition("agent.name", "eq", "ci-bot")(subject(agent=agent))
    assert compile_condition("agent.name", "glob", "ci-*")(subject(agent=agent))


# --- wildcards and indexes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{"amount": 5}, {"amount": 10}], True),
        ([{"amount": 5}], True),
        ([{"amount": 5}, {"amount": 11}], False),
        ([{"amount": 5}, {}], False),  # an element without the field fails
        ([{"amount": 5}, "x"], False),
        ([], False),  # no element vouches for the rule: fail closed
        ("not a list", False),
        ({"amount": 5}, False),
        (None, False),
    ],
)
def test_wildcard_requires_every_element_and_at_least_one(items: Any, expected: bool) -> None:
    predicate = compile_condition("args.items[*].amount", "lte", 10)
    assert predicate(subject({"items": items})) is expected


def test_wildcard_over_a_missing_list_fails() -> None:
    assert compile_condition("args.items[*].amount", "lte", 10)(subject({})) is False


@pytest.mark.parametrize(
    ("items", "value", "expected"),
    [
        ([{"id": 1}, {"id": 2}], True, True),
        ([{"id": 1}, {}], True, False),
        ([{}, {"id": None}], False, True),
        ([{}, {"id": 1}], False, False),
        ([], True, False),
        ([], False, False),  # empty: fails for exists too
    ],
)
def test_wildcard_exists_checks_every_element(items: Any, value: bool, expected: bool) -> None:
    predicate = compile_condition("args.items[*].id", "exists", value)
    assert predicate(subject({"items": items})) is expected


def test_nested_wildcards_apply_at_every_level() -> None:
    predicate = compile_condition("args.orders[*].lines[*].qty", "gt", 0)
    assert predicate(
        subject({"orders": [{"lines": [{"qty": 1}, {"qty": 2}]}, {"lines": [{"qty": 3}]}]})
    )
    assert not predicate(subject({"orders": [{"lines": [{"qty": 1}]}, {"lines": [{"qty": 0}]}]}))
    assert not predicate(subject({"orders": [{"lines": [{"qty": 1}]}, {"lines": []}]}))
    assert not predicate(subject({"orders": [{"lines": [{"qty": 1}]}, {}]}))


def test_wildcard_on_the_whole_element_and_indexes_after_it() -> None:
    lowercase = compile_condition("args.tags[*]", "regex", "^[a-z]+$")
    assert lowercase(subject({"tags": ["a", "bc"]}))
    assert not lowercase(subject({"tags": ["a", "Bc"]}))
    first = compile_condition("args.rows[*][0]", "eq", "id")
    assert first(subject({"rows": [["id", 1], ["id", 2]]}))
    assert not first(subject({"rows": [["id", 1], []]}))


def test_indexes_pick_one_element() -> None:
    predicate = compile_condition("args.items[1].id", "eq", "b")
    assert predicate(subject({"items": [{"id": "a"}, {"id": "b"}]}))
    assert not predicate(subject({"items": [{"id": "a"}]}))
    assert not predicate(subject({"items": {"1": {"id": "b"}}}))


# --- callgate's operators -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    table(
        ("delete_*", "delete_repo", True),
        ("delete_*", "Delete_repo", False),  # case-sensitive
        ("delete_*", "undelete_repo", False),
        ("a/*", "a/b/c", True),  # '*' crosses '/'
        ("file-?.txt", "file-1.txt", True),
        ("[!a]*", "b", True),
        ("[!a]*", "a", False),
        (["*.pdf", "*.txt"], "x.txt", True),
        (["*.pdf", "*.txt"], "x.exe", False),
        ("*", 5, False),
        ("*", "", True),
        ("a*", "a\nb", True),
    ),
)
def test_glob_matches_shell_patterns_case_sensitively(
    value: Any, actual: Any, expected: bool
) -> None:
    assert holds("glob", value, actual) is expected


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    table(
        ("/app/src", "/app/src/main.py", True),
        ("/app/src", "/app/src", True),
        ("/app/src/", "/app/src/a", True),
        ("/app/src", "/app/srcfoo", False),
        ("/app/src", "/app/srcfoo/a", False),
        ("/app/src", "/app/src/../../etc/passwd", False),
        ("/app/src", "/app/src/..", False),
        ("/app/src", "/app/src/../src/a", True),
        ("/app/src", "/app/src/./a//b", True),
        ("/app/src", "//app/src/a", True),
        ("/app/src", "///app/src/a", True),
        ("/app/src", "/app//src/a", True),
        ("/app/src", "/app/src/a/../../src2", False),
        ("/app/src", "src/main.py", False),  # relative: never within
        ("/app/src", "./app/src/x", False),
        ("/app/src", "../app/src", False),
        ("/app/src", "", False),
        ("/app/src", "/app/src/a\x00/../../../etc", False),
        ("/app/src", 5, False),
        ("/app/src", ["/app/src/a"], False),
        ("/app/../app/src", "/app/src/a", True),
        ("/", "/etc/passwd", True),
        ("/", "etc/passwd", False),
        (["/tmp", "/app/src"], "/tmp/x", True),
        (["/tmp", "/app/src"], "/app/x", False),
    ),
)
def test_path_within_normalises_before_checking_containment(
    value: Any, actual: Any, expected: bool
) -> None:
    assert holds("path_within", value, actual) is expected


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    table(
        ("allowed.com", "https://allowed.com/x", True),
        ("allowed.com", "https://ALLOWED.com", True),
        ("ALLOWED.COM", "https://allowed.com", True),
        ("allowed.com", "HTTPS://ALLOWED.COM/", True),
        ("allowed.com", "https://allowed.com./", True),
        ("allowed.com.", "https://allowed.com/", True),
        ("allowed.com", "https://allowed.com:8443/", True),
        ("allowed.com", "https://user:pw@allowed.com/", True),
        ("allowed.com", "https://evil.com@allowed.com/", True),  # the host really is allowed
        ("allowed.com", "https://allowed.com@evil.com/", False),
        ("allowed.com", "https://allowed.com%2F@evil.com/", False),
        ("allowed.com", "https://a@allowed.com@evil.com/", False),
        ("allowed.com", "https://evil.com\\@allowed.com/", False),  # WHATWG reads '\' as '/'
        ("allowed.com", "https://evil.com#@allowed.com", False),
        ("allowed.com", "https://evil.com?@allowed.com", False),
        ("allowed.com", "https://allowed.com.evil.com/", False),
        ("allowed.com", "https://evilallowed.com/", False),
        ("allowed.com", "https://api.allowed.com/", False),
        ("allowed.com", "allowed.com/path", False),  # no scheme: not a URL
        ("allowed.com", "//allowed.com/path", False),
        ("allowed.com", "https://", False),
        ("allowed.com", "https://allowed.com:99999/", False),
        ("allowed.com", "https://allowed.com:port/", False),
        ("allowed.com", "https://allowed .com/", False),
        ("allowed.com", "https://allowed.com\u200b/", False),  # invisible characters
        ("allowed.com", "https://allowed.com:+80/", False),
        ("allowed.com", "https://allowed.com:/", True),  # an empty port is no port
        ("allowed.com", "mailto:someone@allowed.com", False),
        ("allowed.com", 5, False),
        ("*.allowed.com", "https://api.allowed.com/", True),
        ("*.allowed.com", "https://a.b.allowed.com/", True),
        ("*.allowed.com", "https://allowed.com/", False),
        ("*.allowed.com", "https://evilallowed.com/", False),
        ("*.allowed.com", "https://api.allowed.com.evil.com/", False),
        ("xn--bcher-kva.de", "https://bücher.de/", True),  # IDNA
        ("bücher.de", "https://xn--bcher-kva.de/", True),
        ("allowed.com", "https://\uff41llowed.com/", True),  # a full-width letter folds
        ("::1", "http://[::1]:8080/", True),
        ("[::1]", "http://[::1]/", True),
        ("::1", "http://[0:0::1]/", True),
        ("127.0.0.1", "http://127.0.0.1:80/", True),
        ("127.0.0.1", "http://2130706433/", False),  # another spelling is not on the list
        ("::1", "http://[::1/", False),
        (["a.com", "b.com"], "https://b.com", True),
    ),
)
def test_url_host_in_compares_the_host_the_url_really_addresses(
    value: Any, actual: Any, expected: bool
) -> None:
    assert holds("url_host_in", value, actual) is expected


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        ("length_lte", 3, "abc", True),
        ("length_lte", 3, "abcd", False),
        ("length_lte", 1, "é", True),  # code points, not bytes
        ("length_gte", 2, [1, 2], True),
        ("length_gte", 3, [1, 2], False),
        ("length_lte", 0, {"a": 1}, False),
        ("length_lte", 1, {"a": 1}, True),
        ("length_gte", 0, "", True),
        ("length_lte", 10, 5, False),  # numbers have no length
        ("length_lte", 10, None, False),
        ("length_lte", 10, True, False),
    ],
)
def test_length_operators_measure_strings_lists_and_objects(
    op: str, value: int, actual: Any, expected: bool
) -> None:
    assert holds(op, value, actual) is expected


# --- compile-time errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("equals", 1, "unknown operator"),
        ("EQ", 1, "unknown operator"),
        (None, 1, "unknown operator"),
        ("exists", "true", "exists takes true or false"),
        ("exists", 1, "exists takes true or false"),
        ("exists", None, "exists takes true or false"),
        ("in", "usd", "takes a list"),
        ("not_in", None, "takes a list"),
        ("in", {"a": 1}, "takes a list"),
        ("lt", "abc", "compares numbers"),
        ("lte", True, "compares numbers"),
        ("gt", None, "compares numbers"),
        ("gte", [1], "compares numbers"),
        ("lt", float("nan"), "compares numbers"),
        ("lt", float("inf"), "compares numbers"),
        ("lt", "NaN", "compares numbers"),
        ("lt", "Infinity", "compares numbers"),
        ("regex", 5, "regex must be a string"),
        ("regex", "(", "invalid regex"),
        ("not_regex", "(?=x)", "not RE2 syntax"),
        ("glob", 5, "non-empty string or list of strings"),
        ("glob", [], "non-empty string or list of strings"),
        ("glob", [""], "non-empty string or list of strings"),
        ("path_within", "app/src", "needs absolute directories"),
        ("path_within", ["/ok", "rel"], "needs absolute directories"),
        ("path_within", "", "non-empty string or list of strings"),
        ("url_host_in", "https://allowed.com", "is not a host name"),
        ("url_host_in", "allowed.com:443", "is not a host name"),
        ("url_host_in", "*", "is not a host name"),
        ("url_host_in", "*.*.com", "is not a host name"),
        ("url_host_in", "a..com", "is not a host name"),
        ("url_host_in", 5, "non-empty string or list of strings"),
        ("length_lte", -1, "whole number"),
        ("length_lte", "3", "whole number"),
        ("length_gte", True, "whole number"),
        ("length_gte", 1.5, "whole number"),
    ],
)
def test_bad_operator_values_are_refused_at_compile_time_with_a_hint(
    op: Any, value: Any, message: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition("args.x", op, value)
    assert message in caught.value.message
    assert caught.value.hint


def test_an_unknown_operator_suggests_the_nearest_one() -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition("args.x", "not_int", ["a"])
    assert caught.value.hint == "did you mean 'not_in'?"


def test_a_bad_path_is_refused_before_the_operator_is_looked_at() -> None:
    with pytest.raises(ConditionError, match="must start with"):
        compile_condition("arguments.x", "eq", 1)


def test_intercepts_value_types_all_compile() -> None:
    """Every value Intercept's validate accepts compiles here too (so its policies load)."""
    for op in ("eq", "neq", "contains"):
        for value in ("s", 1, 1.5, True, None, [1, "a"], {"k": "v"}):
            compile_condition("args.x", op, value)
    for op in ("in", "not_in"):
        compile_condition("args.x", op, [])
        compile_condition("args.x", op, [1, "a", None, True, [1]])
    for op in ("lt", "lte", "gt", "gte"):
        for number in (0, -5, 2.5, 10**20):
            compile_condition("state.t.c", op, number)


# --- properties ---------------------------------------------------------------------------

finite_numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False),
)
non_numbers = st.one_of(
    st.text(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2), st.just({"a": 1})
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(actual=finite_numbers, limit=finite_numbers)
def test_lt_and_gte_are_complements_on_numbers(actual: Any, limit: Any) -> None:
    assert holds("lt", limit, actual) is not holds("gte", limit, actual)
    assert holds("lte", limit, actual) is not holds("gt", limit, actual)


def exact(number: Any) -> Decimal:
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


near_floats = (
    st.floats(allow_nan=False, allow_infinity=False)
    .flatmap(
        lambda x: st.sampled_from([x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)])
    )
    .filter(math.isfinite)
)


@given(
    actual=finite_numbers | near_floats,
    limit=finite_numbers
    | near_floats
    | st.decimals(places=2, allow_nan=False, allow_infinity=False),
)
def test_comparisons_agree_with_exact_decimal_arithmetic(actual: Any, limit: Any) -> None:
    # A float means its shortest repr, as the JSON text said it; the fast int and float
    # shortcuts must give the same answers as comparing exact decimals.
    assert holds("lt", limit, actual) is (exact(actual) < exact(limit))
    assert holds("lte", limit, actual) is (exact(actual) <= exact(limit))
    assert holds("gt", limit, actual) is (exact(actual) > exact(limit))
    assert holds("gte", limit, actual) is (exact(actual) >= exact(limit))


@given(limit=st.decimals(places=3, min_value=-(10**9), max_value=10**9))
def test_a_float_equal_to_a_short_decimal_limit_is_at_the_limit(limit: Decimal) -> None:
    actual = float(limit)
    assert holds("lte", limit, actual)
    assert holds("gte", limit, actual)
    assert not holds("lt", limit, actual)
    assert holds("lt", limit, math.nextafter(actual, -math.inf))


@given(actual=st.integers(), limit=st.integers())
def test_integer_comparisons_agree_with_python(actual: int, limit: int) -> None:
    assert holds("lt", limit, actual) is (actual < limit)
    assert holds("gte", limit, actual) is (actual >= limit)
    assert holds("eq", limit, actual) is (actual == limit)


@given(actual=non_numbers, limit=finite_numbers)
def test_non_numbers_fail_every_comparison(actual: Any, limit: Any) -> None:
    for op in ("lt", "lte", "gt", "gte"):
        assert holds(op, limit, actual) is False


@given(actual=json_values, items=st.lists(json_scalars, max_size=4))
def test_in_and_not_in_are_complements_for_present_values(actual: Any, items: list[Any]) -> None:
    assert holds("in", items, actual) is not holds("not_in", items, actual)


@given(actual=json_values, value=json_values)
def test_eq_and_neq_are_complements_for_present_values(actual: Any, value: Any) -> None:
    assert holds("eq", value, actual) is not holds("neq", value, actual)


@given(actual=json_values, items=st.lists(json_scalars, max_size=4))
def test_in_is_eq_against_any_item(actual: Any, items: list[Any]) -> None:
    assert holds("in", items, actual) is any(holds("eq", item, actual) for item in items)


@given(
    value=json_scalars
    | st.lists(st.text(max_size=3) | st.booleans() | st.none(), max_size=3)
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3)
)
def test_eq_is_reflexive(value: Any) -> None:
    # Not for containers holding numbers: Go renders a YAML 1000000 as "1000000" and a
    # JSON one as "1e+06", so Intercept finds [1000000] != [1000000] (see EQ).
    assert holds("eq", value, value)


@pytest.mark.parametrize(("op", "value"), ONE_OF_EACH)
@given(
    args=st.dictionaries(st.text(max_size=3).filter(lambda k: k != "x"), json_values, max_size=3)
)
def test_missing_values_fail_all_but_exists(op: str, value: Any, args: dict[str, Any]) -> None:
    assert compile_condition("args.x", op, value)(subject(args)) is False
    assert compile_condition("args.x", "exists", True)(subject(args)) is False
    assert compile_condition("args.x", "exists", False)(subject(args)) is True


LEAVES = [
    ("lte", 10),
    ("eq", "a"),
    ("neq", "a"),
    ("in", [1, "a"]),
    ("regex", "^a"),
    ("exists", True),
    ("exists", False),
    ("contains", "a"),
    ("length_lte", 2),
]


@pytest.mark.parametrize(("op", "value"), LEAVES)
@given(
    items=st.lists(
        st.one_of(json_values, st.just({}), st.builds(dict, v=json_values)), min_size=1, max_size=5
    )
)
def test_a_wildcard_path_is_all_over_the_elements(op: str, value: Any, items: list[Any]) -> None:
    each = compile_condition("args.item.v", op, value)
    every = compile_condition("args.items[*].v", op, value)
    expected = all(each(subject({"item": item})) for item in items)
    assert every(subject({"items": items})) is expected


def resolve_components(path: str) -> list[str]:
    """An independent reference: resolve `.` and `..` on a stack of path components."""
    stack: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if stack:
                stack.pop()
        else:
            stack.append(part)
    return stack


components = st.lists(
    st.sampled_from(["app", "src", "srcfoo", "etc", "..", ".", "", "a"]), max_size=8
)


@given(
    dir_parts=st.lists(st.sampled_from(["app", "src", "a"]), max_size=3),
    parts=components,
    absolute=st.booleans(),
)
def test_path_within_agrees_with_a_component_reference(
    dir_parts: list[str], parts: list[str], absolute: bool
) -> None:
    directory = "/" + "/".join(dir_parts)
    path = ("/" if absolute else "") + "/".join(parts)
    inside = holds("path_within", directory, path)
    want = resolve_components(directory)
    expected = path.startswith("/") and resolve_components(path)[: len(want)] == want
    assert inside is expected
    if inside:  # never accepts a path whose normalised form escapes
        normal = posixpath.normpath(path)
        assert normal.lstrip("/").split("/")[: len(want)] == want or not want


hosts = st.lists(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3
).map(".".join)
userinfo = st.text(alphabet=st.sampled_from("abcxyz.:-_"), max_size=12)


@given(
    host=hosts,
    allowed=st.lists(hosts, min_size=1, max_size=3),
    user=userinfo,
    port=st.integers(1, 65535) | st.none(),
)
def test_url_host_in_ignores_userinfo_and_ports(
    host: str, allowed: list[str], user: str, port: int | None
) -> None:
    url = f"https://{user + '@' if user else ''}{host}{f':{port}' if port else ''}/p?q=1"
    assert holds("url_host_in", allowed, url) is (host in allowed)
    assert holds("url_host_in", allowed, f"https://{host}@evil.invalid/") is (
        "evil.invalid" in allowed
    )


def test_missing_sentinel_is_distinct_and_falsy() -> None:
    assert MISSING is not None
    assert not MISSING
    assert repr(MISSING) == "MISSING"


# --- unknown= : what an undecidable call answers ------------------------------------------


@pytest.mark.parametrize(("op", "value"), ONE_OF_EACH)
@pytest.mark.parametrize(
    ("path", "args"),
    [("args.x", {}), ("args.a.x", {"a": "x"}), ("args.a[3]", {"a": []})],
)
def test_unknown_true_makes_a_missing_value_hold(
    op: str, value: Any, path: str, args: dict[str, Any]
) -> None:
    assert compile_condition(path, op, value, unknown=True)(subject(args)) is True
    assert compile_condition(path, op, value)(subject(args)) is False


@pytest.mark.parametrize(
    ("op", "value", "actual"),
    [
        ("gt", 1000, "5000"),  # a string amount cannot be judged by a number comparison
        ("lte", 1000, True),
        ("gte", 0, None),
        ("regex", "^prod", 5),
        ("not_regex", "^prod", ["prod"]),
        ("glob", "*", 1),
        ("path_within", "/app", {"p": "/app"}),
        ("url_host_in", ["a.com"], 7),
        ("contains", "x", 5),
        ("length_lte", 3, 12345),
    ],
)
def test_unknown_true_makes_a_mistyped_value_hold(op: str, value: Any, actual: Any) -> None:
    predicate = compile_condition("args.x", op, value, unknown=True)
    assert predicate(subject({"x": actual})) is True
    assert compile_condition("args.x", op, value)(subject({"x": actual})) is False


@pytest.mark.parametrize("items", [[], None, "x", {"a": 1}])
def test_unknown_true_makes_a_wildcard_without_elements_hold(items: Any) -> None:
    predicate = compile_condition("args.items[*].amount", "gt", 1000, unknown=True)
    assert predicate(subject({"items": items})) is True
    assert predicate(subject({"items": [{"amount": 1}]})) is False
    assert predicate(subject({"items": [{"amount": 5000}, {}]})) is True


def test_exists_judges_missing_values_whatever_unknown_says() -> None:
    assert compile_condition("args.x", "exists", True, unknown=True)(subject({})) is False
    assert compile_condition("args.x", "exists", False, unknown=True)(subject({})) is True


@pytest.mark.parametrize(("op", "value"), ONE_OF_EACH)
@given(actual=json_values)
def test_unknown_changes_nothing_for_values_the_operator_judges(
    op: str, value: Any, actual: Any
) -> None:
    cautious = compile_condition("args.x", op, value, unknown=True)(subject({"x": actual}))
    plain = compile_condition("args.x", op, value)(subject({"x": actual}))
    assert cautious is plain or (cautious is True and plain is False)


# --- the cases Intercept's own engine tests check (internal/engine/engine_test.go) ----------


@pytest.mark.parametrize(
    ("path", "op", "value", "args", "expected"),
    [
        ("args.x", "eq", 50000.0, {"x": 50000}, True),
        ("args.x", "eq", 100, {"x": 100.0}, True),
        ("args.x", "eq", 1.2, {"x": 1.1}, False),
        ("args.x", "eq", False, {"x": False}, True),
        ("args.x", "in", ["us", "uk", "de"], {"x": "uk"}, True),
        ("args.x", "not_in", ["us", "uk"], {"x": "fr"}, True),
        ("args.x", "lt", 2.5, {"x": 1.5}, True),
        ("args.x", "gte", 50, {"x": 100}, True),
        ("args.x", "regex", r"^[^@]+@[^@]+\.[^@]+$", {"x": "user@example.com"}, True),
        ("args.x", "regex", r"^[^@]+@[^@]+\.[^@]+$", {"x": "not-an-email"}, False),
        ("args.x", "contains", "world", {"x": "hello world"}, True),
        ("args.x", "contains", "d", {"x": ["a", "b", "c"]}, False),
        ("args.x", "contains", "4", {"x": 42}, False),
        ("args.name", "exists", True, {"name": None}, False),
        (
            "args.recipient.email",
            "regex",
            r"@example\.com$",
            {"recipient": {"email": "u@example.com"}},
            True,
        ),
        ("args.recipient.email", "eq", "x", {}, False),
        ("args.recipient.email", "eq", "x", {"recipient": "not-a-map"}, False),
        ("args.x", "lte", 100, {"x": "not-a-number"}, False),
        ("args.x", "regex", r"\d+", {"x": 42}, False),
        ("args.safe", "eq", True, {"safe": False}, False),
    ],
)
def test_intercepts_engine_test_cases_hold_here(
    path: str, op: str, value: Any, args: dict[str, Any], expected: bool
) -> None:
    assert compile_condition(path, op, value)(subject(args)) is expected
