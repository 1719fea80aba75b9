"""How a decision that stops a call reads to the agent (pure).

A denial is a tool *result* with `isError: true`, not a JSON-RPC error: models see tool
results and can act on them (pick another tool, ask the user, wait `retry_after`), while
a protocol error usually surfaces as a crash. Structured details ride in `_meta`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from callgate.policy.decision import Decision

META_KEY: Final = "callgate/decision"

PROTOCOL_VERSION_META_KEY: Final = "io.modelcontextprotocol/protocolVersion"

# Versions that use the per-request envelope, where every result carries `resultType`.
# Spelled out rather than imported from mcp_types, whose import costs ~200 ms.
MODERN_PROTOCOL_VERSIONS: Final = frozenset({"2026-07-28"})


def denial_text(decision: Decision) -> str:
    """The one line the model reads."""
    if decision.rule:
        return f'[callgate] denied by rule "{decision.rule}": {decision.reason}'
    return f"[callgate] denied: {decision.reason}"


def denial_result(decision: Decision, *, modern: bool) -> dict[str, Any]:
    """The `tools/call` result that stands in for the server's answer."""
    result: dict[str, Any] = {
        "content": [{"type": "text", "text": denial_text(decision)}],
        "isError": True,
        "_meta": {
            META_KEY: {
                "rule": decision.rule,
                "verdict": decision.verdict.value,
                "reason": decision.reason,
                "retry_after": decision.retry_after,
            }
        },
    }
    if modern:
        result["resultType"] = "complete"
    return result


def speaks_modern(params: Mapping[str, Any], session_version: str | None) -> bool:
    """Whether this request is on the 2026-07-28 envelope (per-request `_meta` wins)."""
    meta = params.get("_meta")
    version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
    if not isinstance(version, str):
        version = session_version
    return version in MODERN_PROTOCOL_VERSIONS
