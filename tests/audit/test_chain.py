"""Record lines and the chain's pieces: canonical lines, the fast prefix parser, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.audit.chain import (
    Checkpoint,
    CheckpointError,
    genesis,
    key_id,
    link_hash,
    parse_link,
    read_checkpoint,
)
from callgate.audit.record import build_event, canonical_json, encode_record, hash_arguments

KEY = b"k" * 32
HEX = "0123456789abcdef"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def test_a_line_is_canonical_json_with_the_chain_fields_first() -> None:
    line = encode_record(7, "ab" * 32, {"tool": "pay", "agent": "é", "amount": {"b": 1, "a": 2}})
    assert (
        line
        == (
            '{"seq":7,"prev":"' + "ab" * 32 + '","agent":"é","amount":{"a":2,"b":1},"tool":"pay"}'
        ).encode()
    )


def test_an_events_own_seq_and_prev_never_reach_the_line() -> None:
    line = encode_record(3, "0" * 64, {"seq": 99, "prev": "forged", "tool": "t"})
    assert json.loads(line) == {"seq": 3, "prev": "0" * 64, "tool": "t"}


def test_an_empty_event_still_makes_a_record() -> None:
    assert json.loads(encode_record(1, "0" * 64, {})) == {"seq": 1, "prev": "0" * 64}


@given(
    seq=st.integers(min_value=1, max_value=10**18),
    prev=st.text(alphabet=HEX, min_size=64, max_size=64),
    fields=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
)
def test_the_prefix_parser_reads_back_what_was_written(
    seq: int, prev: str, fields: dict[str, Any]
) -> None:
    line = encode_record(seq, prev, fields)
    assert parse_link(line) == (seq, prev)
    parsed = json.loads(line)
    assert (parsed["seq"], parsed["prev"]) == (seq, prev)


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"hello",
        b'{"prev":"' + b"0" * 64 + b'","seq":1}',  # keys in another order
        b'{"seq":01,"prev":"' + b"0" * 64 + b'"}',  # a leading zero
        b'{"seq":-1,"prev":"' + b"0" * 64 + b'"}',
        b'{"seq":1,"prev":"' + b"0" * 63 + b'"}',  # a short hash
        b'{"seq":1,"prev":"' + b"G" * 64 + b'"}',  # not hex
        b'{"seq":1,"prev":"' + b"A" * 64 + b'"}',  # upper case is not what is written
        b'{"seq": 1,"prev":"' + b"0" * 64 + b'"}',  # whitespace
    ],
)
def test_the_prefix_parser_refuses_anything_else(line: bytes) -> None:
    assert parse_link(line) is None


def test_hashes_depend_on_the_key_and_the_writer() -> None:
    assert link_hash(KEY, b"x") != link_hash(b"j" * 32, b"x")
    assert genesis(KEY, "w1") != genesis(KEY, "w2")
    assert len(key_id(KEY)) == 16 and key_id(KEY) != key_id(b"j" * 32)


def test_argument_hash_is_canonical_and_keyed() -> None:
    assert hash_arguments({"a": 1, "b": [1, 2]}, KEY) == hash_arguments({"b": [1, 2], "a": 1}, KEY)
    assert hash_arguments({"a": 1}, KEY) != hash_arguments({"a": 2}, KEY)
    assert hash_arguments({"a": 1}, KEY) != hash_arguments({"a": 1}, b"j" * 32)


@pytest.mark.parametrize(
    ("outcome", "is_error"), [("ok", False), ("tool_error", True), ("timeout", None), (None, None)]
)
def test_is_error_is_the_results_is_error(outcome: str | None, is_error: bool | None) -> None:
    event = build_event(
        now=0.0,
        server="s",
        session="x",
        agent="a",
        method="tools/call",
        tool="t",
        decision="allow",
        rule=None,
        reason="",
        outcome=outcome,
    )
    assert event["is_error"] is is_error


def _checkpoint() -> Checkpoint:
    return Checkpoint(
        writer="w1",
        file=2,
        seq=10,
        hash="ab" * 32,
        time="2027-01-15T08:00:00.000+00:00",
        sealed=True,
        key_id=key_id(KEY),
    )


def test_a_checkpoint_reads_back_when_its_signature_matches() -> None:
    assert read_checkpoint(_checkpoint().sign(KEY), KEY) == _checkpoint()


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"seq": 11}, "signature does not match"),
        ({"sealed": False}, "signature does not match"),
        ({"seq": "10"}, "wrong type"),
        ({"extra": 1}, "unexpected fields"),
    ],
)
def test_an_edited_checkpoint_is_refused(edit: dict[str, Any], says: str) -> None:
    data = json.loads(_checkpoint().sign(KEY))
    data.update(edit)
    with pytest.raises(CheckpointError, match=says):
        read_checkpoint(canonical_json(data).encode(), KEY)


def test_a_checkpoint_under_another_key_says_so() -> None:
    other = replace(_checkpoint(), key_id=key_id(b"j" * 32)).sign(b"j" * 32)
    with pytest.raises(CheckpointError, match="another key"):
        read_checkpoint(other, KEY)


def test_a_checkpoint_that_is_not_json_is_refused() -> None:
    with pytest.raises(CheckpointError, match="not JSON"):
        read_checkpoint(b"{", KEY)
