"""Reading a log back from real files: every writer merged by time, the tail, following."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callgate.audit.query import RecordFilter
from callgate.audit.reading import follow, last_records, query, read_records
from callgate.audit.record import build_event, format_time
from callgate.audit.sink import ChainWriter

KEY = b"k" * 32
NOW = 1_800_000_000.0


def _event(number: int, decision: str = "allow") -> dict[str, Any]:
    return build_event(
        now=NOW + number,
        server="s",
        session="x",
        agent="a",
        method="tools/call",
        tool=f"t{number}",
        decision=decision,
        rule=None,
        reason="",
    )


def _two_writers(directory: Path) -> tuple[ChainWriter, ChainWriter]:
    first = ChainWriter(directory, KEY, writer="w1", max_file_bytes=1500)
    second = ChainWriter(directory, KEY, writer="w2", max_file_bytes=1500)
    first.write([_event(n, "deny" if n % 3 == 0 else "allow") for n in range(0, 20, 2)])
    second.write([_event(n, "deny" if n % 3 == 0 else "allow") for n in range(1, 20, 2)])
    return first, second


def test_records_of_every_writer_come_out_in_time_order(tmp_path: Path) -> None:
    for writer in _two_writers(tmp_path):
        writer.close()
    assert [r["tool"] for r in read_records(tmp_path)] == [f"t{n}" for n in range(20)]
    tagged = list(query(tmp_path, tag_writer=True))
    assert {r["writer"] for r in tagged} == {"w1", "w2"}


def test_a_query_filters_by_field_and_time(tmp_path: Path) -> None:
    for writer in _two_writers(tmp_path):
        writer.close()
    wanted = RecordFilter(
        since=format_time(NOW + 5), until=format_time(NOW + 15), values={"decision": ["deny"]}
    )
    assert [r["tool"] for r in query(tmp_path, wanted)] == ["t6", "t9", "t12"]


def test_the_tail_is_the_last_records_of_all_writers(tmp_path: Path) -> None:
    for writer in _two_writers(tmp_path):
        writer.close()
    assert [r["tool"] for r in last_records(tmp_path, 3)] == ["t17", "t18", "t19"]
    denied = last_records(tmp_path, 2, RecordFilter(values={"decision": ["deny"]}))
    assert [r["tool"] for r in denied] == ["t15", "t18"]
    assert last_records(tmp_path, 0) == []


def test_following_sees_new_records_and_new_files(tmp_path: Path) -> None:
    first, second = _two_writers(tmp_path)
    new = follow(tmp_path, interval=0.01)
    first.write([_event(20)])
    assert next(new)["tool"] == "t20"
    third = ChainWriter(tmp_path, KEY, writer="w3")
    third.write([_event(21)])  # a writer that started after following began
    second.write([_event(22)])
    assert [next(new)["tool"], next(new)["tool"]] == ["t21", "t22"]
    for writer in (first, second, third):
        writer.close()
