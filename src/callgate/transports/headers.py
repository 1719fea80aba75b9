"""The MCP HTTP headers: which ones cross the proxy, and the 2026-07-28 routing headers.

On 2026-07-28 every request carries `MCP-Protocol-Version`, `Mcp-Method` and (for
`tools/call`, `prompts/get`, `resources/read`) `Mcp-Name`, mirroring the body so that
intermediaries can route without parsing it. A proxy that judges the body must make sure
the headers say the same thing, or the upstream could act on a name callgate never saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from mcp.shared.inbound import (
    NAME_BEARING_METHODS,
    decode_header_value,
    encode_header_value,
    mcp_param_headers,
    x_mcp_header_map,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

SESSION_ID: Final = "mcp-session-id"
PROTOCOL_VERSION: Final = "mcp-protocol-version"
METHOD: Final = "mcp-method"
NAME: Final = "mcp-name"
LAST_EVENT_ID: Final = "last-event-id"
PARAM_PREFIX: Final = "mcp-param-"
CALLGATE_SESSION: Final = "callgate-session"
"""Optional client-chosen key that separates stateless (2026-07-28) sessions of one agent."""

HEADER_MISMATCH: Final = -32020
"""JSON-RPC error code of 2026-07-28 for routing headers that disagree with the body."""

PROTOCOL_VERSION_META: Final = "io.modelcontextprotocol/protocolVersion"

_ROUTING: Final = frozenset({PROTOCOL_VERSION, METHOD, NAME})

# Client headers the listener passes upstream. Everything else (Authorization, Cookie,
# Host, Origin, proxies' X-Forwarded-*) stays at callgate: upstream credentials come only
# from the operator's --header flags.
_FORWARDED: Final = frozenset({SESSION_ID, PROTOCOL_VERSION, METHOD, NAME, LAST_EVENT_ID, "accept"})


def is_modern(version: str | None) -> bool:
    """Whether `version` is a stateless, per-request-envelope protocol revision."""
    return version in MODERN_PROTOCOL_VERSIONS


def envelope_version(body: Mapping[str, Any]) -> str | None:
    """The protocol version a 2026-07-28 request carries in `params._meta`, if any."""
    params = body.get("params")
    if not isinstance(params, dict):
        return None
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        return None
    version = meta.get(PROTOCOL_VERSION_META)
    return version if isinstance(version, str) else None


def forwardable(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The client headers that may travel upstream (MCP protocol headers only)."""
    kept: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _FORWARDED or key.startswith(PARAM_PREFIX):
            kept[key] = value
    return kept


def routing_headers(
    body: Mapping[str, Any], version: str, tool_schemas: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The headers a 2026-07-28 request must carry, built from its body.

    With the tool's `inputSchema` known (`tool_schemas`), the `Mcp-Param-*` headers its
    `x-mcp-header` annotations declare are included too.
    """
    method = body.get("method")
    headers: dict[str, str] = {PROTOCOL_VERSION: version}
    if not isinstance(method, str):
        return headers
    headers[METHOD] = method
    params = body.get("params")
    if not isinstance(params, dict):
        return headers
    name_key = NAME_BEARING_METHODS.get(method)
    name: Any = params.get(name_key) if name_key is not None else None
    if isinstance(name, str):
        headers[NAME] = encode_header_value(name)
    if method == "tools/call" and isinstance(name, str) and tool_schemas:
        schema = tool_schemas.get(name)
        arguments = params.get("arguments")
        if schema is not None and isinstance(arguments, dict):
            headers.update(mcp_param_headers(x_mcp_header_map(schema), arguments))
    return headers


def routing_mismatch(headers: Iterable[tuple[str, str]], body: Mapping[str, Any]) -> str | None:
    """Why the routing headers of a request disagree with its body, or None when they agree.

    Only headers that are present are compared (a 2025 client sends none); a routing
    header that appears twice is refused because two readers could pick different copies.
    """
    seen: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _ROUTING:
            if key in seen:
                return f"{key} header appears more than once"
            seen[key] = value
    method = body.get("method")
    if METHOD in seen and seen[METHOD] != method:
        return f"Mcp-Method header {seen[METHOD]!r} does not match the body's method {method!r}"
    version = envelope_version(body)
    if PROTOCOL_VERSION in seen and version is not None and seen[PROTOCOL_VERSION] != version:
        return "MCP-Protocol-Version header does not match the body's protocol version"
    name_key = NAME_BEARING_METHODS.get(method) if isinstance(method, str) else None
    if name_key is None:
        return None
    params = body.get("params")
    named: Any = params.get(name_key) if isinstance(params, dict) else None
    if NAME in seen:
        if decode_header_value(seen[NAME]) != named:
            return f"Mcp-Name header does not match the body's {name_key!r}"
    elif is_modern(seen.get(PROTOCOL_VERSION)) and named is not None:
        return f"Mcp-Name header is missing for {method}"
    return None
