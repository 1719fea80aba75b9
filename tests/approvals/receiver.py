"""A real HTTP server on loopback (uvicorn) for the approval tests' webhooks and admin API."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import uvicorn
from starlette.types import ASGIApp


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) and yield its base URL.

    The socket is bound and listening before the URL is handed out, so requests queue in
    the backlog until uvicorn accepts them: no waiting for start-up.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, [listener])
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
    listener.close()
