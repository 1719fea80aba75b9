"""A real MCP server used as the upstream in the HTTP transport tests.

Run as `python upstream_server.py http` (Streamable HTTP on a free loopback port; the
first stdout line is `PORT <n>`) or `python upstream_server.py stdio`.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Annotated, Any

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventMessage, EventStore
from mcp_types import JSONRPCMessage
from pydantic import BaseModel, Field

server = MCPServer("callgate-http-fixture")
executed: list[str] = []
"""Names of the tools this process ran, so tests can prove a refused call never arrived."""


@server.tool(meta={"io.example/owner": "fixtures"})
def echo(text: str) -> str:
    """Return the text unchanged."""
    executed.append("echo")
    return text


@server.tool()
async def block() -> str:
    """Never answer (until the process ends)."""
    await anyio.Event().wait()
    return "unreachable"


@server.tool()
async def count(steps: int, ctx: Context) -> str:
    """Report progress `steps` times, then finish."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return f"counted {steps}"


class Person(BaseModel):
    """What the `ask` tool asks the user for."""

    name: str


@server.tool()
async def ask(ctx: Context) -> str:
    """Ask the user for a name through elicitation."""
    answer = await ctx.elicit("Who are you?", Person)
    if answer.action == "accept":
        return f"hello {answer.data.name}"
    return f"elicitation {answer.action}"


@server.tool()
def headers(ctx: Context) -> str:
    """The HTTP request headers this server received, as JSON (empty over stdio)."""
    return json.dumps(dict(ctx.headers or {}))


@server.tool()
def deploy(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
) -> str:
    """A tool whose `region` argument is mirrored in the `Mcp-Param-Region` header."""
    return f"deployed to {region}"


@server.tool()
def delete_everything() -> str:
    """A dangerous tool the tests' interceptor refuses to forward."""
    executed.append("delete_everything")
    return "everything deleted"


@server.tool()
def executed_tools() -> str:
    """The tools run so far, as a JSON list."""
    return json.dumps(executed)


@server.tool()
async def interrupted(ctx: Context) -> str:
    """Report progress, drop the response stream (the client must resume), then finish."""
    await ctx.report_progress(1, 2, "before the break")
    await ctx.close_sse_stream()
    await ctx.report_progress(2, 2, "after the break")
    return "resumed"


@server.tool()
async def crash(ctx: Context) -> str:
    """Report progress, then die in the middle of the call."""
    await ctx.report_progress(1, 2, "about to crash")
    os._exit(3)


class MemoryEventStore(EventStore):
    """Every event kept in order, so a client can resume a stream with Last-Event-ID."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, JSONRPCMessage | None]] = []

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = str(len(self.events) + 1)
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: Any) -> str | None:
        ids = [event_id for event_id, _, _ in self.events]
        if last_event_id not in ids:
            return None
        index = ids.index(last_event_id)
        stream_id = self.events[index][1]
        for event_id, stream, message in self.events[index + 1 :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


async def serve_http() -> None:
    """Serve Streamable HTTP on a free loopback port and announce it on stdout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, before uvicorn starts serving
    port = sock.getsockname()[1]
    app = server.streamable_http_app(
        host="127.0.0.1", event_store=MemoryEventStore(), retry_interval=10
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    print(f"PORT {port}", flush=True)
    await uv.serve(sockets=[sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:
        anyio.run(serve_http)
    else:
        server.run("stdio")
