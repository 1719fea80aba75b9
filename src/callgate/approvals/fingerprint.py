"""The canonical fingerprint of a call: what one approval approves, and nothing else.

Two calls share a fingerprint exactly when they go to the same upstream server, name the
same tool, come from the same agent and carry the same arguments. Arguments are written as
canonical JSON: object keys sorted, no insignificant whitespace, strings as UTF-8, and
numbers by their exact decimal value (so `1`, `1.0` and `1e0` agree, while `0.1` never
collapses into `0.1000000000000000055511151231257827`). Booleans and null are never
confused with numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Context, Decimal
from typing import Any

from callgate.policy.decision import Agent, ToolCall

__all__ = ["canonical_json", "fingerprint_call"]


def fingerprint_call(call: ToolCall, agent: Agent) -> str:
    """The hex SHA-256 of the canonical JSON of server, tool, arguments and agent."""
    document = {
        "agent": agent.name,
        "arguments": call.arguments,
        "server": call.server,
        "tool": call.tool,
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """One JSON text per value: sorted keys, compact, numbers by exact decimal value."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, parts: list[str]) -> None:
    if value is None or isinstance(value, bool):
        parts.append(json.dumps(value))
    elif isinstance(value, str):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int | float | Decimal):
        parts.append(_number(value))
    elif isinstance(value, Mapping):
        keys = sorted(value)
        if not all(isinstance(key, str) for key in keys):
            raise TypeError("object keys must be strings")
        parts.append("{")
        for index, key in enumerate(keys):
            if index:
                parts.append(",")
            parts.append(json.dumps(key, ensure_ascii=False))
            parts.append(":")
            _write(value[key], parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"not a JSON number: {value!r}")
    # repr() of a float is its shortest round-tripping decimal text, i.e. what the JSON
    # text said; Decimal keeps that exactly, and normalize() makes 1, 1.0 and 1e0 agree.
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite():
        raise ValueError(f"not a JSON number: {value!r}")
    if exact.is_zero():
        return "0"
    # normalize() rounds to the context precision: give it every digit the value has.
    digits = len(exact.as_tuple().digits)
    return str(exact.normalize(Context(prec=max(digits, 1))))
