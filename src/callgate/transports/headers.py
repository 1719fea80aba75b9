"""The MCP HTTP headers: which ones cross the proxy, and the 2026-07-28 routing headers.

On 2026-07-28 every request carries `MCP-Protocol-Version`, `Mcp-Method` and (for
`tools/call`, `prompts/get`, `resources/read`) `Mcp-Name`, mirroring the body so that
intermediaries can route without parsing it. A proxy that judges the body must make sure
the headers say the same thing, or the upstream could act on a name callgate never saw.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

# The SDK's own helpers live in `mcp.shared.inbound`, whose import pulls in every protocol
# model (about 40 MB and a second of start-up); the few lines needed are repeated here and
# checked against the SDK's in tests/transports/test_http_headers.py.
MODERN_PROTOCOL_VERSIONS: Final = ("2026-07-28",)
NAME_BEARING_METHODS: Final = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
"""Method -> the params key the `Mcp-Name` header mirrors."""

SESSION_ID: Final = "mcp-session-id"
PROTOCOL_VERSION: Final = "mcp-protocol-version"
METHOD: Final = "mcp-method"
NAME: Final = "mcp-name"
LAST_EVENT_ID: Final = "last-event-id"
PARAM_PREFIX: Final = "mcp-param-"
CALLGATE_SESSION: Final = "callgate-session"
"""Optional client-chosen key that separates stateless (2026-07-28) sessions of one agent."""

X_MCP_HEADER: Final = "x-mcp-header"
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


ParamHeaders = Mapping[tuple[str, ...], str]
"""A tool's `x-mcp-header` declarations: argument path -> header token."""


def param_header_map(input_schema: Any) -> ParamHeaders | None:
    """The `Mcp-Param-*` declarations of a tool's input schema, None when it has none.

    Almost no tool declares any, so the SDK's schema walker is only loaded for one that does.
    """
    if X_MCP_HEADER not in json.dumps(input_schema):
        return None
    from mcp.shared.inbound import find_invalid_x_mcp_header, x_mcp_header_map  # noqa: PLC0415

    if find_invalid_x_mcp_header(input_schema) is not None:
        return None  # conforming clients drop such a tool and send no headers for it
    return x_mcp_header_map(input_schema)


def routing_headers(
    body: Mapping[str, Any], version: str, param_headers: Mapping[str, ParamHeaders] | None = None
) -> dict[str, str]:
    """The headers a 2026-07-28 request must carry, built from its body.

    For a `tools/call` of a tool whose `x-mcp-header` declarations are in `param_headers`
    (by tool name), the `Mcp-Param-*` headers are included too.
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
    declared = param_headers.get(name) if param_headers and isinstance(name, str) else None
    arguments = params.get("arguments")
    if declared and method == "tools/call" and isinstance(arguments, dict):
        from mcp.shared.inbound import mcp_param_headers  # noqa: PLC0415

        headers.update(mcp_param_headers(declared, arguments))
    return headers


_B64_SENTINEL: Final = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")
_HEADER_SAFE: Final = re.compile(r"^[\x20-\x7E]*$")


def encode_header_value(value: str) -> str:
    """A header-safe form of `value`: verbatim when printable ASCII, else `=?base64?...?=`."""
    if (
        _HEADER_SAFE.fullmatch(value)
        and value == value.strip()
        and not _B64_SENTINEL.fullmatch(value)
    ):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def decode_header_value(value: str | None) -> str | None:
    """The inverse of `encode_header_value`; None for a malformed sentinel."""
    if value is None:
        return None
    match = _B64_SENTINEL.fullmatch(value)
    if match is None:
        return value
    payload = match.group("payload")
    try:
        decoded = base64.b64decode(payload, validate=True)
    except binascii.Error:
        return None
    if base64.b64encode(decoded).decode("ascii") != payload:
        return None  # not canonical: the encoder never produces it
    try:
        return decoded.decode()
    except UnicodeDecodeError:
        return None


def routing_mismatch(headers: Iterable[tuple[str, str]], body: Mapping[str, Any]) -> str | None:
    """Why the routing headers of a request disagree with its body, or None when they agree.

    On 2026-07-28 (by header or by the body's envelope) `MCP-Protocol-Version`,
    `Mcp-Method` and, for a named method, `Mcp-Name` are required; otherwise only headers
    that are present are compared (a 2025 client sends none). A routing header that
    appears twice is refused because two readers could pick different copies.
    """
    seen: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _ROUTING:
            if key in seen:
                return f"{key} header appears more than once"
            seen[key] = value.strip()  # optional whitespace is not part of a field value
    method = body.get("method")
    version = envelope_version(body)
    modern = is_modern(seen.get(PROTOCOL_VERSION)) or is_modern(version)
    if modern and PROTOCOL_VERSION not in seen:
        return "MCP-Protocol-Version header is missing"
    if PROTOCOL_VERSION in seen and version is not None and seen[PROTOCOL_VERSION] != version:
        return "MCP-Protocol-Version header does not match the body's protocol version"
    if modern and METHOD not in seen:
        return "Mcp-Method header is missing"
    if METHOD in seen and seen[METHOD] != method:
        return f"Mcp-Method header {seen[METHOD]!r} does not match the body's method {method!r}"
    name_key = NAME_BEARING_METHODS.get(method) if isinstance(method, str) else None
    if name_key is None:
        return None
    params = body.get("params")
    named: Any = params.get(name_key) if isinstance(params, dict) else None
    if NAME in seen:
        if decode_header_value(seen[NAME]) != named:
            return f"Mcp-Name header does not match the body's {name_key!r}"
    elif modern and named is not None:
        return f"Mcp-Name header is missing for {method}"
    return None
