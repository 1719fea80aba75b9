"""A real MCP server used as the upstream in the HTTP transport tests.

Run as `python upstream_server.py http` (Streamable HTTP on a free loopback port; the
first stdout line is `PORT <n>`) or `python upstream_server.py stdio`.
"""

from __future__ import annotations

import json
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

server = MCPServer("callgate-http-fixture")
executed: list[str] = []
"""Names of the tools this process ran, so tests can prove a refused call never arrived."""


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    executed.append("echo")
    return text


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
def delete_everything() -> str:
    """A dangerous tool the tests' interceptor refuses to forward."""
    executed.append("delete_everything")
    return "everything deleted"


@server.tool()
def executed_tools() -> str:
    """The tools run so far, as a JSON list."""
    return json.dumps(executed)


async def serve_http() -> None:
    """Serve Streamable HTTP on a free loopback port and announce it on stdout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, before uvicorn starts serving
    port = sock.getsockname()[1]
    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    print(f"PORT {port}", flush=True)
    await uv.serve(sockets=[sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:
        anyio.run(serve_http)
    else:
        server.run("stdio")
