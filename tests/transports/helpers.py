"""Helpers shared by the HTTP transport tests."""

from __future__ import annotations

import json
import socket
from typing import Any

from mcp.client import Client
from mcp_types import TextContent

from tests.transports.guard import REFUSED_TOOL


def text_of(result: Any) -> str:
    """The text of a tool result's first content block."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp"


async def check_refused_call_never_arrives(client: Client) -> None:
    """The Guard's refused tool is answered locally; the upstream's log proves it never ran."""
    refused = await client.call_tool(REFUSED_TOOL, {})
    executed = await client.call_tool("executed_tools", {})
    assert refused.is_error
    assert "denied" in text_of(refused)
    assert REFUSED_TOOL not in json.loads(text_of(executed))
