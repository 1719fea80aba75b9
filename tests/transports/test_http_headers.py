"""The MCP HTTP headers: what crosses the proxy, and the 2026-07-28 routing headers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.shared import inbound
from mcp_types import version

from callgate.transports import headers


def test_the_protocol_tables_match_the_sdk() -> None:
    assert headers.MODERN_PROTOCOL_VERSIONS == version.MODERN_PROTOCOL_VERSIONS
    assert dict(inbound.NAME_BEARING_METHODS) == headers.NAME_BEARING_METHODS


@given(st.text())
def test_header_values_encode_and_decode_like_the_sdk(value: str) -> None:
    encoded = headers.encode_header_value(value)
    assert encoded == inbound.encode_header_value(value)
    assert headers.decode_header_value(encoded) == value


@given(st.text())
def test_any_header_value_decodes_like_the_sdk(value: str) -> None:
    assert headers.decode_header_value(value) == inbound.decode_header_value(value)


def test_credentials_and_browser_headers_are_not_forwarded() -> None:
    client = [
        ("Authorization", "Bearer agent"),
        ("Cookie", "sid=1"),
        ("Host", "127.0.0.1:9"),
        ("Origin", "http://localhost"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Mcp-Session-Id", "abc"),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Param-Region", "eu"),
        ("Last-Event-ID", "7"),
        ("Accept", "application/json, text/event-stream"),
    ]
    assert headers.forwardable(client) == {
        "mcp-session-id": "abc",
        "mcp-protocol-version": "2025-11-25",
        "mcp-param-region": "eu",
        "last-event-id": "7",
        "accept": "application/json, text/event-stream",
    }


def call(name: Any, **params: Any) -> dict[str, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}, "_meta": meta, **params},
    }


V = ("MCP-Protocol-Version", "2026-07-28")


@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        ([V, ("Mcp-Method", "tools/call"), ("Mcp-Name", "echo")], None),
        ([V, ("mcp-method", " tools/call "), ("MCP-NAME", "echo ")], None),
        ([], "MCP-Protocol-Version header is missing"),
        ([("MCP-Protocol-Version", "2025-06-18")], "protocol version"),
        ([V, ("Mcp-Name", "echo")], "Mcp-Method header is missing"),
        ([V, ("Mcp-Method", "tools/list"), ("Mcp-Name", "echo")], "Mcp-Method"),
        ([V, ("Mcp-Method", "TOOLS/CALL"), ("Mcp-Name", "echo")], "Mcp-Method"),
        ([V, ("Mcp-Method", "tools/call"), ("Mcp-Name", "rm")], "Mcp-Name"),
        ([V, ("Mcp-Method", "tools/call")], "Mcp-Name header is missing"),
        ([V, ("Mcp-Method", "tools/call"), ("Mcp-Method", "tools/call")], "more than once"),
    ],
)
def test_routing_headers_must_match_the_body(
    sent: list[tuple[str, str]], problem: str | None
) -> None:
    found = headers.routing_mismatch(sent, call("echo"))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_a_legacy_request_needs_no_routing_headers() -> None:
    legacy = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}
    assert headers.routing_mismatch([], legacy) is None
    assert headers.routing_mismatch([("Mcp-Name", "rm")], legacy) is not None


def test_an_encoded_name_header_matches_its_decoded_body() -> None:
    name = "résumé tool"
    sent = [
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", headers.encode_header_value(name)),
    ]
    assert headers.routing_mismatch(sent, call(name)) is None


def test_routing_headers_built_from_the_body_pass_the_sdk_ladder() -> None:
    schema = {
        "type": "object",
        "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
    }
    declared = headers.param_header_map(schema)
    assert declared is not None
    body = call("deploy", arguments={"region": "eu-west"})
    body["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = {}
    built = headers.routing_headers(body, "2026-07-28", {"deploy": declared})
    lowered = {key.lower(): value for key, value in built.items()}
    assert lowered["mcp-method"] == "tools/call"
    assert lowered["mcp-name"] == "deploy"
    assert lowered["mcp-param-region"] == "eu-west"
    assert isinstance(
        inbound.classify_inbound_request(body, headers=lowered), inbound.InboundModernRoute
    )
    assert inbound.validate_mcp_param_headers(schema, body["params"]["arguments"], lowered) is None


def test_a_schema_without_declarations_needs_no_param_headers() -> None:
    assert (
        headers.param_header_map({"type": "object", "properties": {"a": {"type": "string"}}})
        is None
    )
