"""Record filters: time bounds, fields, patterns, and the byte prefilter never losing a match."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.audit.query import RecordFilter, parse_time, record_time
from callgate.audit.record import encode_record, format_time

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", "2027-01-15T06:00:00.000+00:00"),
        ("90s", "2027-01-15T07:58:30.000+00:00"),
        ("1d", "2027-01-14T08:00:00.000+00:00"),
        ("1w", "2027-01-08T08:00:00.000+00:00"),
        ("2027-01-15", "2027-01-15T00:00:00.000+00:00"),
        ("2027-01-15T07:30", "2027-01-15T07:30:00.000+00:00"),
        ("2027-01-15T07:30:00Z", "2027-01-15T07:30:00.000+00:00"),
        ("2027-01-15T09:30:00+02:00", "2027-01-15T07:30:00.000+00:00"),
    ],
)
def test_time_bounds_read_iso_times_and_ages(text: str, expected: str) -> None:
    assert parse_time(text, NOW) == expected


def test_a_time_that_is_neither_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="such as 2026-11-25"):
        parse_time("yesterday", NOW)


def _record(**fields: Any) -> dict[str, Any]:
    base = {
        "time": format_time(NOW),
        "tool": "read_file",
        "server": "fs",
        "agent": "bot",
        "session": "s1",
        "decision": "allow",
        "rule": None,
        "category": "read",
    }
    return {**base, **fields}


def test_fields_select_records_and_values_may_be_patterns() -> None:
    wanted = RecordFilter(values={"tool": ["delete_*"], "decision": ["deny", "hidden"]})
    assert wanted.matches(_record(tool="delete_user", decision="deny"))
    assert not wanted.matches(_record(tool="delete_user", decision="allow"))
    assert not wanted.matches(_record(tool="read_file", decision="deny"))
    assert not RecordFilter(values={"rule": ["r"]}).matches(_record())  # rule null


def test_time_range_includes_since_and_excludes_until() -> None:
    wanted = RecordFilter(since=format_time(NOW), until=format_time(NOW + 60))
    assert wanted.matches(_record(time=format_time(NOW)))
    assert not wanted.matches(_record(time=format_time(NOW + 60)))
    assert not wanted.matches(_record(time=format_time(NOW - 1)))
    # Approval events from before records had a time carry `at`.
    assert record_time({"at": NOW}) == format_time(NOW)
    assert wanted.spans(format_time(NOW - 100), format_time(NOW + 10))
    assert not wanted.spans(format_time(NOW - 100), format_time(NOW - 10))


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot filter on color"):
        RecordFilter(values={"color": ["red"]})


names = st.sampled_from(["read_file", "write_file", "délete", 'quo"te', "a\\b", "x"])


@given(
    record=st.fixed_dictionaries(
        {
            "tool": names,
            "agent": names,
            "decision": st.sampled_from(["allow", "deny"]),
            "arguments": st.dictionaries(st.sampled_from(["tool", "agent"]), names),
        }
    ),
    tools=st.lists(names, min_size=1, max_size=2),
    agents=st.lists(names, min_size=1, max_size=2),
)
def test_the_byte_prefilter_never_drops_a_match(
    record: dict[str, Any], tools: list[str], agents: list[str]
) -> None:
    wanted = RecordFilter(values={"tool": tools, "agent": agents})
    line = encode_record(1, "0" * 64, record)
    if wanted.matches(record):
        assert wanted.may_match(line)
