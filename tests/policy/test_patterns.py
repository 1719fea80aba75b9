"""Tool-name match precedence: exact, then the longest pattern, then category, then "*"."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.policy.patterns import (
    EntryKind,
    ToolPattern,
    is_pattern,
    order_patterns,
    select_entries,
)


@dataclass(frozen=True)
class Entry:
    label: str
    category: str | None = None
    flags: tuple[str, ...] | None = None


def select(
    tool: str,
    *,
    category: str | None = None,
    exact: dict[str, Entry] | None = None,
    patterns: list[str] | None = None,
    categories: dict[str, Entry] | None = None,
    flags: tuple[str, ...] = (),
    by_flag: dict[str, Entry] | None = None,
    wildcard: Entry | None = None,
) -> list[tuple[EntryKind, str]]:
    compiled = order_patterns([(ToolPattern.compile(p), Entry(p)) for p in patterns or []])
    found = select_entries(
        tool,
        category,
        flags,
        exact=exact or {},
        patterns=compiled,
        categories=categories or {},
        by_flag=by_flag,
        wildcard=wildcard,
    )
    return [(item.kind, item.key) for item in found]


@pytest.mark.parametrize(
    ("key", "expected"), [("*", False), ("delete_*", True), ("*_prod", True), ("read", False)]
)
def test_is_pattern(key: str, expected: bool) -> None:
    assert is_pattern(key) is expected


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("delete_*", "delete_file", True),
        ("delete_*", "delete_", True),
        ("delete_*", "undelete_file", False),
        ("*_prod", "db_prod", True),
        ("*_prod", "db_prod_copy", False),
        ("a*b*c", "aXXbYYc", True),
        ("file.*", "fileXtxt", False),
        ("[x]*", "[x]y", True),
    ],
)
def test_pattern_matches_the_whole_name_literally_except_star(
    pattern: str, name: str, matches: bool
) -> None:
    assert ToolPattern.compile(pattern).matches(name) is matches


def test_exact_entry_shadows_every_pattern() -> None:
    assert select(
        "delete_file", exact={"delete_file": Entry("own")}, patterns=["delete_*", "*"]
    ) == [(EntryKind.TOOL, "delete_file")]


def test_longest_pattern_wins() -> None:
    chosen = select("delete_db_prod", patterns=["delete_*", "delete_*_prod", "*_prod"])
    assert chosen == [(EntryKind.PATTERN, "delete_*_prod")]


def test_equal_length_patterns_prefer_more_literal_characters_then_alphabetical() -> None:
    assert select("ab_x", patterns=["*b_x", "a**x"]) == [(EntryKind.PATTERN, "*b_x")]
    assert select("ab_ab", patterns=["ab_*", "*_ab"]) == [(EntryKind.PATTERN, "*_ab")]


def test_category_then_wildcard_follow_the_tool_entry() -> None:
    chosen = select(
        "rm",
        category="destructive",
        exact={"rm": Entry("own")},
        categories={"destructive": Entry("cat")},
        wildcard=Entry("all"),
    )
    assert chosen == [
        (EntryKind.TOOL, "rm"),
        (EntryKind.CATEGORY, "destructive"),
        (EntryKind.WILDCARD, "*"),
    ]


def test_entry_category_overrides_the_classifier() -> None:
    chosen = select(
        "rm",
        category="read",
        exact={"rm": Entry("own", category="destructive")},
        categories={"destructive": Entry("cat"), "read": Entry("reads")},
    )
    assert chosen == [(EntryKind.TOOL, "rm"), (EntryKind.CATEGORY, "destructive")]


def test_flag_entries_come_after_the_category_and_before_the_wildcard_in_file_order() -> None:
    chosen = select(
        "transfer",
        category="financial",
        flags=("bulk", "credentials", "money"),
        exact={"transfer": Entry("own")},
        categories={"financial": Entry("cat")},
        by_flag={"money": Entry("m"), "personal_data": Entry("p"), "bulk": Entry("b")},
        wildcard=Entry("all"),
    )
    assert chosen == [
        (EntryKind.TOOL, "transfer"),
        (EntryKind.CATEGORY, "financial"),
        (EntryKind.FLAG, "money"),
        (EntryKind.FLAG, "bulk"),
        (EntryKind.WILDCARD, "*"),
    ]


@pytest.mark.parametrize(
    ("own", "expected"),
    [
        (Entry("own", flags=("bulk",)), [(EntryKind.PATTERN, "wipe_*"), (EntryKind.FLAG, "bulk")]),
        (Entry("own", flags=()), [(EntryKind.PATTERN, "wipe_*")]),
        (Entry("own"), [(EntryKind.PATTERN, "wipe_*"), (EntryKind.FLAG, "money")]),
    ],
    ids=["pinned", "pinned-none", "classifier"],
)
def test_entry_flags_override_the_classifier(
    own: Entry, expected: list[tuple[EntryKind, str]]
) -> None:
    compiled = order_patterns([(ToolPattern.compile("wipe_*"), own)])
    found = select_entries(
        "wipe_all",
        None,
        ("money",),
        exact={},
        patterns=compiled,
        categories={},
        by_flag={"money": Entry("m"), "bulk": Entry("b")},
        wildcard=None,
    )
    assert [(item.kind, item.key) for item in found] == expected


def test_flags_select_nothing_without_flag_entries() -> None:
    assert select("transfer", flags=("money",), wildcard=Entry("all")) == [
        (EntryKind.WILDCARD, "*")
    ]


names = st.text(alphabet="abc_", min_size=1, max_size=8)


@given(names, st.lists(st.text(alphabet="abc_*", min_size=1, max_size=6), max_size=6))
def test_chosen_pattern_matches_and_no_matching_pattern_is_longer(
    name: str, keys: list[str]
) -> None:
    patterns = [k for k in keys if is_pattern(k)]
    chosen = select(name, patterns=patterns)
    matching = [p for p in patterns if ToolPattern.compile(p).matches(name)]
    if not matching:
        assert chosen == []
        return
    ((kind, key),) = chosen
    assert kind is EntryKind.PATTERN
    assert ToolPattern.compile(key).matches(name)
    assert all(len(p) <= len(key) for p in matching)


@given(names, st.lists(st.text(alphabet="abc_*", min_size=1, max_size=6), max_size=6))
def test_an_exact_entry_always_wins(name: str, keys: list[str]) -> None:
    chosen = select(name, exact={name: Entry("own")}, patterns=[k for k in keys if is_pattern(k)])
    assert chosen == [(EntryKind.TOOL, name)]
