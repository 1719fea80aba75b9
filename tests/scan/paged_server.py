"""A real MCP server whose `tools/list` comes in pages of three, over stdio or HTTP.

    python -m tests.scan.paged_server stdio
    python -m tests.scan.paged_server http [REQUIRED_HEADER_VALUE]

In HTTP mode it binds 127.0.0.1 on a free port, prints the port on its first stdout line,
and, when a value is given, answers 401 to requests without `X-Token: <value>`. With
PAGED_SERVER_LOOP=1 in its environment, its cursors loop (a broken server).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import uvicorn
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server

PAGE_SIZE = 3
LOOP_VARIABLE = "PAGED_SERVER_LOOP"
ROOT = Path(__file__).resolve().parents[2]


def _schema(**properties: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": kind} for name, kind in properties.items()},
    }


TOOLS = [
    types.Tool(name="list_items", description="List the items", input_schema=_schema()),
    types.Tool(
        name="create_item", description="Create an item", input_schema=_schema(title="string")
    ),
    types.Tool(name="delete_item", description="Delete an item", input_schema=_schema(id="string")),
    types.Tool(
        name="run_job",
        description="Run a shell command as a job",
        input_schema=_schema(command="string"),
    ),
    types.Tool(
        name="refund_payment",
        description="Refund a captured payment",
        input_schema=_schema(payment_id="string", amount="number", currency="string"),
    ),
    types.Tool(name="get_status", description="Get the service status", input_schema=_schema()),
    types.Tool(
        name="archive_item", description="Archive an item", input_schema=_schema(id="string")
    ),
]


async def _list_tools(
    ctx: Any, params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    end = start + PAGE_SIZE
    if os.environ.get(LOOP_VARIABLE):
        # A broken server: the second page points back at itself, forever.
        return types.ListToolsResult(tools=TOOLS[start:end], next_cursor=str(PAGE_SIZE))
    return types.ListToolsResult(
        tools=TOOLS[start:end], next_cursor=str(end) if end < len(TOOLS) else None
    )


async def _call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"ok {params.name}")])


server: Server[Any] = Server("paged-fixture", on_list_tools=_list_tools, on_call_tool=_call_tool)


async def _serve_stdio() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def _serve_http(token: str | None) -> None:
    app = server.streamable_http_app()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and token is not None:
            headers = dict(scope.get("headers", []))
            if headers.get(b"x-token") != token.encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"missing token"})
                return
        await app(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(guarded, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    if sys.argv[1:2] == ["http"]:
        _serve_http(sys.argv[2] if len(sys.argv) > 2 else None)
    else:
        anyio.run(_serve_stdio)


if __name__ == "__main__":
    main()


@contextlib.contextmanager
def running_http(token: str | None = None, timeout: float = 20.0) -> Iterator[str]:
    """Start the HTTP server in a child process; yield its `/mcp` URL; stop it after."""
    args = [sys.executable, "-m", "tests.scan.paged_server", "http"]
    process = subprocess.Popen(
        [*args, token] if token is not None else args,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"paged_server printed no port within {timeout} s")
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout)
        if process.stdout is not None:
            process.stdout.close()
