"""Strict, bounded JSON-RPC 2.0 decoding and compact encoding for every transport.

Decoding refuses what a lenient parser would quietly accept, because a proxy that judges
calls must see exactly what the server will see: duplicate object keys (a policy could
check one value while the server reads the other), non-UTF-8 bytes, `NaN`/`Infinity`,
messages over the size limit. Keys are compared case-sensitively (`"Method"` is not
`"method"`). A batch is split into its elements; each element is validated on its own and
an invalid one is reported as a `ParseError` in its place, so the rest of the batch still
goes through.

Errors:

    ParseError (code)
      -32700 PARSE_ERROR       bytes are not one JSON value, or a key repeats
      -32600 INVALID_REQUEST   JSON, but not a JSON-RPC 2.0 message (or too large)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from pydantic_core import PydanticSerializationError, to_json

from callgate.proxy.hooks import Message

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MAX_MESSAGE_BYTES",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "ParseError",
    "decode",
    "encode",
    "error_response",
]

MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
"""Default size limit of one message (a whole batch counts as one message)."""

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603


class ParseError(Exception):
    """Bytes that cannot be forwarded: answer with `response()`, forward nothing.

    `request_id` is the id of the offending message when it could be read, so the client
    can match the error to its request.
    """

    def __init__(self, code: int, message: str, request_id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    def response(self, id: str | int | None = None) -> dict[str, Any]:
        """The JSON-RPC error response for this failure."""
        return error_response(id if id is not None else self.request_id, self.code, self.message)


def error_response(
    request_id: str | int | None, code: int, message: str, data: Any = None
) -> dict[str, Any]:
    """A JSON-RPC 2.0 error response object."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for one message (no trailing newline).

    pydantic-core's encoder (installed with the SDK) is about five times faster than the
    stdlib's on a 10 KB result. A value it refuses is handed to the stdlib, which raises
    the same error it always did. NaN and infinities never come off the wire (`decode`
    refuses them), so only callgate's own numbers could hold one: those are written as
    `null`, never as the bare `NaN` that is not JSON.
    """
    try:
        return to_json(body, inf_nan_mode="null")
    except PydanticSerializationError:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decode(
    raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[list[Message | ParseError], bool]:
    """Parse one transport frame into messages; returns (messages, was_batch).

    A frame that cannot be read at all raises `ParseError`. In a batch, every element that
    is not a valid JSON-RPC message appears as a `ParseError` at its position. A single
    message keeps its exact bytes in `Message.raw` (surrounding whitespace removed); batch
    elements get their own compact encoding.
    """
    if len(raw) > max_bytes:
        raise ParseError(INVALID_REQUEST, f"message larger than {max_bytes} bytes")
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except _DuplicateKeyError as exc:
        raise ParseError(PARSE_ERROR, f"parse error: duplicate key {exc.key!r}") from None
    except (ValueError, RecursionError) as exc:
        # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
        raise ParseError(PARSE_ERROR, f"parse error: {_describe(exc)}") from None
    if isinstance(value, list):
        if not value:
            raise ParseError(INVALID_REQUEST, "invalid request: empty batch")
        return [_element(item) for item in value], True
    problem = _problem(value)
    if problem is not None:
        raise ParseError(INVALID_REQUEST, f"invalid request: {problem}", _readable_id(value))
    return [Message(value, raw.strip())], False


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Built once: `json.loads` with hooks would build a new decoder for every message.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant
)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    return str(exc)


def _element(item: Any) -> Message | ParseError:
    problem = _problem(item)
    if problem is not None:
        return ParseError(INVALID_REQUEST, f"invalid request: {problem}", _readable_id(item))
    return Message(item, encode(item))


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _readable_id(value: Any) -> str | int | None:
    if isinstance(value, dict):
        request_id = value.get("id")
        if _valid_id(request_id):
            return request_id
    return None


def _problem(value: Any) -> str | None:
    """Why `value` is not a JSON-RPC 2.0 message, or None when it is one."""
    if not isinstance(value, dict):
        return "a message must be a JSON object"
    if value.get("jsonrpc") != "2.0":
        return 'missing "jsonrpc": "2.0"'
    if "method" in value:
        if not isinstance(value["method"], str):
            return '"method" must be a string'
        if "result" in value or "error" in value:
            return 'a request cannot carry "result" or "error"'
        if "id" in value and not _valid_id(value["id"]):
            return '"id" must be a string or an integer'
        params = value.get("params")
        if "params" in value and not isinstance(params, dict | list):
            return '"params" must be an object or an array'
        return None
    if "id" not in value:
        return 'a message needs "method" or "id"'
    if ("result" in value) == ("error" in value):
        return 'a response carries exactly one of "result" and "error"'
    if value["id"] is not None and not _valid_id(value["id"]):
        return '"id" must be a string or an integer'
    if "error" in value:
        error = value["error"]
        if not (
            isinstance(error, dict)
            and isinstance(error.get("code"), int)
            and not isinstance(error.get("code"), bool)
            and isinstance(error.get("message"), str)
        ):
            return '"error" must be an object with an integer "code" and a string "message"'
    return None
