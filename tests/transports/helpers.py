"""Helpers shared by the HTTP transport tests."""

from __future__ import annotations

import json
import socket
from typing import Any

from mcp.client import Client
from mcp_types import ElicitResult, TextContent

from tests.transports.guard import ASK_FIRST, REFUSED_TOOL


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


class Asked:
    """An elicitation callback that answers callgate's question and remembers it."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.messages: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.messages.append(params.message)
        return ElicitResult(action="accept" if self.accept else "decline", content={})


async def check_asked_before_forwarding(client: Client, asked: Asked) -> None:
    """An `echo` the Guard asks about runs only when the client said yes."""
    result = await client.call_tool("echo", {"text": ASK_FIRST})
    executed = json.loads(text_of(await client.call_tool("executed_tools", {})))
    assert asked.messages == ["callgate: allow this echo?"]
    if asked.accept:
        assert text_of(result) == ASK_FIRST
        assert executed == ["echo"]
    else:
        assert result.is_error
        assert "the client said no" in text_of(result)
        assert executed == []


def check_answers_never_judged(records: list[dict[str, Any]]) -> None:
    """The client's answers to callgate's questions were never shown to the interceptor."""
    judged = [r for r in records if r["direction"] in ("client", "server")]
    assert not any(str(r["body"].get("id", "")).startswith("callgate-") for r in judged)
