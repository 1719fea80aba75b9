"""A real MCP server that counts what it runs, the upstream of the end-to-end tests.

    python -m tests.e2e.upstream http     Streamable HTTP on a free loopback port;
                                          the first stdout line is `PORT <n>`
    python -m tests.e2e.upstream stdio    stdio

`seen` answers how many times each other tool ran in this process, so a test can prove
that a refused call never arrived (and that an allowed one did).
"""

from __future__ import annotations

import json
import socket
import sys
from collections import Counter

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("e2e-upstream")
ran: Counter[str] = Counter()


@server.tool()
def work(n: int = 0) -> str:
    """Do one unit of work."""
    ran["work"] += 1
    return f"worked {n}"


@server.tool()
def spend(amount: float) -> str:
    """Spend money."""
    ran["spend"] += 1
    return f"spent {amount}"


@server.tool()
def seen() -> str:
    """How many times each tool ran in this process, as a JSON object."""
    return json.dumps(dict(ran))


async def serve_http() -> None:
    """Serve Streamable HTTP on a free loopback port and announce it on stdout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections queue from now on, before uvicorn starts serving
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        server.streamable_http_app(host="127.0.0.1"), log_level="warning", lifespan="on"
    )
    print(f"PORT {port}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:
        anyio.run(serve_http)
    else:
        server.run("stdio")
