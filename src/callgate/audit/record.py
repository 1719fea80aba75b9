"""Audit records: what one decision looks like, and the exact bytes a record is written as.

Pure: the time is passed in. `build_event` makes the record of a decision (the gate calls it
on the event loop, so it only copies fields); `encode_record` turns a record into its line,
which is also its canonical JSON, the bytes the chain hashes:

    {"seq":N,"prev":"<64 hex>",<every other key, sorted>}

UTF-8, no whitespace, non-ASCII characters as themselves, `seq` and `prev` first so that a
verifier finds them at a fixed place without parsing the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

CHAIN_FIELDS = ("seq", "prev")
"""Keys the chain owns: an event's own keys of these names are dropped when it is written."""


def format_time(now: float) -> str:
    """The record time: ISO 8601 in UTC with milliseconds (`2026-11-25T08:18:45.686+00:00`).

    Every record uses this one form, so times compare as strings.
    """
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")


def build_event(
    *,
    now: float,
    server: str,
    session: str,
    agent: str,
    method: str,
    tool: str | None,
    decision: str,
    rule: str | None,
    reason: str,
    arguments_hmac: str | None = None,
    latency_ms: float | None = None,
    outcome: str | None = None,
    category: str | None = None,
    flags: Sequence[str] | None = None,
    result_bytes: int | None = None,
    enforced: str | None = None,
    result_guard: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One decision's record; `outcome`, `latency_ms` and `result_bytes` describe how an
    allowed call ended upstream (the result itself is never kept).

    A call a rule in shadow mode would have stopped has that rule's verdict as `decision`
    (`would_deny`, `would_rate_limit`, `would_require_approval`), its `rule` and `reason`,
    and `enforced`, the verdict the call actually got; other records have no `enforced`.

    `is_error` is the result's `isError` (true for outcome `tool_error`, false for `ok`,
    null when there was no result). The arguments are added by the audit writer, in the
    form the policy's `audit.arguments` asks for.

    `result_guard`, only on calls whose result the policy's `results:` guard read and
    changed or flagged, says what it did (`callgate.results.guard.GuardReport`): secrets
    replaced (count, kinds, JSON Pointers) and instructions to the model found (what was
    done: flagged, wrapped or withheld; kinds; JSON Pointers).
    """
    event: dict[str, Any] = {
        "time": format_time(now),
        "server": server,
        "session": session,
        "agent": agent,
        "method": method,
        "tool": tool,
        "category": category,
        "flags": flags,
        "decision": decision,
        "rule": rule,
        "reason": reason,
        "arguments_hmac": arguments_hmac,
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
        "outcome": outcome,
        "is_error": _IS_ERROR.get(outcome) if outcome is not None else None,
        "result_bytes": result_bytes,
    }
    if enforced is not None:
        event["enforced"] = enforced
    if result_guard is not None:
        event["result_guard"] = dict(result_guard)
    return event


_IS_ERROR = {"ok": False, "tool_error": True}


def with_time(event: Mapping[str, Any], now: float) -> Mapping[str, Any]:
    """`event` with a `time`: its own, else its `at` (approval events), else `now`."""
    if isinstance(event.get("time"), str):
        return event
    at = event.get("at")
    when = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else now
    return {**event, "time": format_time(when)}


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII as itself (values JSON cannot hold as str)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hash_arguments(arguments: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 (hex) of the arguments' canonical JSON under the install key."""
    return hmac.new(key, canonical_json(arguments).encode(), hashlib.sha256).hexdigest()


def encode_record(seq: int, prev: str, fields: Mapping[str, Any]) -> bytes:
    """The record's line without its newline: its canonical JSON, chain fields first."""
    rest = canonical_json({key: value for key, value in fields.items() if key not in CHAIN_FIELDS})
    head = f'{{"seq":{seq},"prev":"{prev}"'
    return (head + ("}" if rest == "{}" else "," + rest[1:])).encode()
