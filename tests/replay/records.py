"""Audit records for replay's unit tests, shaped as the gate and the audit writer write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """The record time `seconds` after START, in the records' form."""
    return (START + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def call_record(
    seconds: float,
    tool: str,
    arguments: dict[str, Any] | None = None,
    *,
    decision: str = "allow",
    rule: str | None = None,
    outcome: str | None = "ok",
    latency_ms: float | None = 2.0,
    session: str = "s1",
    agent: str = "tester",
    category: str | None = "write",
    flags: list[str] | None = None,
    redacted: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One `tools/call` record; a refused call (decision not allow) has no outcome."""
    forwarded = decision in ("allow", "would_deny", "would_require_approval", "would_rate_limit")
    record: dict[str, Any] = {
        "time": at(seconds),
        "server": "demo",
        "session": session,
        "agent": agent,
        "method": "tools/call",
        "tool": tool,
        "category": category,
        "flags": flags,
        "decision": decision,
        "rule": rule,
        "reason": extra.pop("reason", ""),
        "arguments_hmac": "00" * 32,
        "outcome": outcome if forwarded else None,
        "latency_ms": latency_ms if forwarded else None,
        **extra,
    }
    if arguments is not None:
        record["arguments"] = arguments
    if redacted is not None:
        record["redacted"] = redacted
    return record
