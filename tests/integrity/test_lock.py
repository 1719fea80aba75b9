"""The lock file and comparing a listing with it (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from callgate.integrity.lock import (
    Lock,
    LockError,
    ToolStatus,
    compare_server,
    definition_of,
    hash_definition,
    parse_lock,
    pin_server,
)

LOOKUP: dict[str, Any] = {
    "name": "lookup",
    "title": "Lookup",
    "description": "Look up a record by key.",
    "inputSchema": {"type": "object", "properties": {"key": {"type": "string"}}},
    "annotations": {"readOnlyHint": True},
    "_meta": {"x": 1},
}


def test_the_hash_ignores_key_order_and_parts_outside_the_definition() -> None:
    reordered = {
        "_meta": {"y": 2},
        "annotations": {"readOnlyHint": True},
        "inputSchema": {"properties": {"key": {"type": "string"}}, "type": "object"},
        "description": "Look up a record by key.",
        "name": "lookup",
    }
    assert hash_definition(definition_of(reordered)) == hash_definition(definition_of(LOOKUP))
    assert set(definition_of(LOOKUP)) == {"description", "inputSchema", "annotations"}


@pytest.mark.parametrize(
    "change",
    [
        {"description": "Look up a record by key!"},
        {"inputSchema": {"type": "object", "properties": {"key": {"type": "integer"}}}},
        {"annotations": {"readOnlyHint": False}},
        {"outputSchema": {"type": "object"}},
    ],
)
def test_any_change_of_a_pinned_part_is_a_change_with_a_diff(change: dict[str, Any]) -> None:
    pins = pin_server([LOOKUP])
    (found,) = compare_server(pins, [{**LOOKUP, **change}])
    assert found.status is ToolStatus.CHANGED
    assert found.diff.startswith("--- lookup (pinned)\n+++ lookup (listed)\n")
    body = found.diff.splitlines()[2:]
    assert any(line.startswith("+") for line in body)


def test_a_listing_is_compared_tool_by_tool_new_and_removed_included() -> None:
    charge = {"name": "charge", "description": "Charge money."}
    pins = pin_server([LOOKUP, charge])
    listed = [LOOKUP, {"name": "export_records", "description": "Export every record."}]
    statuses = {c.name: c.status for c in compare_server(pins, listed)}
    assert statuses == {
        "lookup": ToolStatus.UNCHANGED,
        "export_records": ToolStatus.NEW,
        "charge": ToolStatus.REMOVED,
    }
    removed = next(c for c in compare_server(pins, listed) if c.name == "charge")
    assert "+++ /dev/null" in removed.diff
    assert '-  "description": "Charge money."' in removed.diff


def test_an_invisible_character_shows_in_the_diff() -> None:
    pins = pin_server([LOOKUP])
    tagged = {**LOOKUP, "description": "Look up a record by key.\U000e0041"}
    (found,) = compare_server(pins, [tagged])
    assert "\\udb40\\udc41" in found.diff


def test_the_lock_file_round_trips_and_is_written_the_same_each_time() -> None:
    lock = Lock().with_server("records", pin_server([LOOKUP], origin="python -m records"))
    text = lock.to_json()
    again = parse_lock(text)
    assert again == lock
    assert again.to_json() == text
    assert text.endswith("\n")
    assert '"version": 1' in text


def test_a_pin_edited_by_hand_is_refused() -> None:
    text = Lock().with_server("records", pin_server([LOOKUP])).to_json()
    edited = text.replace("Look up a record by key.", "Look up anything.")
    with pytest.raises(LockError, match="sha256 does not match"):
        parse_lock(edited, "callgate.lock")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"version": 2, "servers": {}}', "version 2"),
        ('{"version": 1, "servers": []}', "`servers` must be an object"),
        ('{"version": 1, "servers": {"s": {"tools": {"t": {}}}}}', "needs `sha256`"),
    ],
)
def test_a_file_that_is_not_a_lock_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(LockError, match=message):
        parse_lock(text, "callgate.lock")
