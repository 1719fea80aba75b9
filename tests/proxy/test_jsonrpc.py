"""The strict JSON-RPC codec: what it accepts byte-faithfully and what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.proxy import jsonrpc
from callgate.proxy.hooks import Message
from callgate.proxy.jsonrpc import ParseError, decode, encode, error_response


def _single(raw: bytes) -> Message:
    messages, was_batch = decode(raw)
    assert not was_batch
    assert len(messages) == 1
    message = messages[0]
    assert isinstance(message, Message)
    return message


def test_single_request_keeps_its_exact_bytes() -> None:
    raw = b'{"jsonrpc": "2.0",  "id": 7, "method": "tools/call", "params": {"name": "x"}}'
    message = _single(raw + b"\n")
    assert message.raw == raw
    assert message.body["params"] == {"name": "x"}
    assert message.method == "tools/call"
    assert message.is_request


def test_notification_and_responses_are_accepted() -> None:
    assert _single(b'{"jsonrpc":"2.0","method":"notifications/initialized"}').method == (
        "notifications/initialized"
    )
    assert _single(b'{"jsonrpc":"2.0","id":"a","result":{}}').is_response
    error = b'{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"m"}}'
    assert _single(error).is_response


def test_duplicate_keys_are_refused_at_any_depth() -> None:
    with pytest.raises(ParseError) as top:
        decode(b'{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}')
    assert top.value.code == jsonrpc.PARSE_ERROR
    assert "'method'" in top.value.message
    with pytest.raises(ParseError) as nested:
        decode(
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"a":1,"a":2}}}'
        )
    assert nested.value.code == jsonrpc.PARSE_ERROR


def test_keys_are_case_sensitive() -> None:
    with pytest.raises(ParseError) as caught:
        decode(b'{"jsonrpc":"2.0","id":1,"Method":"tools/call"}')
    assert caught.value.code == jsonrpc.INVALID_REQUEST
    assert caught.value.response() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32600, "message": caught.value.message},
    }


def test_oversize_message_is_refused_before_parsing() -> None:
    raw = encode({"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"pad": "a" * 100}})
    _single(raw)
    with pytest.raises(ParseError) as caught:
        decode(raw, max_bytes=len(raw) - 1)
    assert caught.value.code == jsonrpc.INVALID_REQUEST
    assert "larger than" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", jsonrpc.PARSE_ERROR),
        (b"\xff\xfe{}", jsonrpc.PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"n":NaN}}', jsonrpc.PARSE_ERROR),
        (b"[" * 100_000 + b"]" * 100_000, jsonrpc.PARSE_ERROR),
        (b"42", jsonrpc.INVALID_REQUEST),
        (b"[]", jsonrpc.INVALID_REQUEST),
        (b'{"id":1,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"1.0","id":1,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"x"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":"p"}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","result":{}}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1}', jsonrpc.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":""}}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":""}}', -32600),
        (b'{"jsonrpc":"2.0","result":{}}', jsonrpc.INVALID_REQUEST),
    ],
)
def test_malformed_frames_raise_with_the_right_code(raw: bytes, code: int) -> None:
    with pytest.raises(ParseError) as caught:
        decode(raw)
    assert caught.value.code == code
    assert caught.value.response()["error"]["code"] == code


def test_batch_elements_are_split_and_invalid_ones_reported_in_place() -> None:
    raw = (
        b'[{"jsonrpc":"2.0","id":1,"method":"tools/list"},'
        b" 3,"
        b' {"jsonrpc":"2.0","id":"b","method":7},'
        b' {"jsonrpc":"2.0","method":"notifications/progress","params":{"p":1}}]'
    )
    messages, was_batch = decode(raw)
    assert was_batch
    first, second, third, fourth = messages
    assert isinstance(first, Message)
    assert json.loads(first.raw) == {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert isinstance(second, ParseError)
    assert second.request_id is None
    assert isinstance(third, ParseError)
    assert third.response()["id"] == "b"
    assert isinstance(fourth, Message)
    assert fourth.method == "notifications/progress"


def test_error_response_carries_data_only_when_given() -> None:
    assert error_response(3, -32602, "bad") == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": -32602, "message": "bad"},
    }
    assert error_response("x", 1, "m", {"k": 1})["error"]["data"] == {"k": 1}


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_encode_writes_json_whatever_the_numbers() -> None:
    # NaN cannot come off the wire; one of callgate's own is null, never bare NaN.
    assert (
        encode({"a": float("nan"), "b": float("inf"), "c": 1.5}) == b'{"a":null,"b":null,"c":1.5}'
    )


def test_encode_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        encode({"a": object()})
    with pytest.raises(UnicodeEncodeError):
        encode({"a": json.loads('"\\ud800"')})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(params=st.dictionaries(st.text(max_size=8), _json, max_size=5), request_id=st.integers())
def test_encoded_requests_decode_to_the_same_body(params: dict[str, Any], request_id: int) -> None:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    assert _single(encode(body)).body == body
