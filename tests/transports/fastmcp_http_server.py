"""A FastMCP server over Streamable HTTP, a second real upstream for the HTTP transport tests.

`python fastmcp_http_server.py`: serves on a free loopback port; the first stdout line
is `PORT <n>`.
"""

from __future__ import annotations

import socket

import anyio
import uvicorn
from fastmcp import Context, FastMCP

server = FastMCP("fastmcp-http-fixture")


@server.tool
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool
async def count(steps: int, ctx: Context) -> str:
    """Report progress `steps` times, then finish."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps)
    return f"counted {steps}"


async def serve() -> None:
    """Serve on a free loopback port and announce it on stdout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, before uvicorn starts serving
    app = server.http_app(path="/mcp")
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await uv.serve(sockets=[sock])


if __name__ == "__main__":
    anyio.run(serve)
