"""Fetching an MCP server's full tool list with the official `mcp` client.

The edge that `callgate classify` and `callgate scan` share: connect over stdio (a child
process) or Streamable HTTP, page through `tools/list` with cursors, and return each tool
in its wire (JSON) form, which is what the classifier reads.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import httpx2
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from callgate.scan.target import Upstream, UpstreamError

# A server that keeps handing out cursors is broken; stop rather than loop forever.
MAX_PAGES = 1000


async def fetch_tools(upstream: Upstream, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every tool the upstream lists, across all pages, as JSON objects (camelCase keys)."""
    if upstream.url is None and not upstream.command:
        raise UpstreamError("no upstream: give --upstream URL or -- CMD ARGS...")
    tools: list[dict[str, Any]] = []
    try:
        with anyio.fail_after(timeout):
            if upstream.url is not None:
                async with create_mcp_http_client(headers=dict(upstream.headers)) as http:
                    transport = streamable_http_client(upstream.url, http_client=http)
                    async with Client(transport, cache=None) as client:
                        await _page_tools(client, tools)
            else:
                # The SDK passes only a few variables by default; a server started from
                # the command line expects the caller's environment (credentials, flags).
                params = StdioServerParameters(
                    command=upstream.command[0],
                    args=list(upstream.command[1:]),
                    env=dict(os.environ),
                )
                async with Client(params, cache=None) as client:
                    await _page_tools(client, tools)
    except TimeoutError as error:
        raise UpstreamError(
            f"{upstream.describe()}: no complete tools/list within {timeout:g} s"
        ) from error
    except UpstreamError:
        raise
    except Exception as error:
        # The SDK reports transport and protocol failures from inside task groups; what
        # the user needs is the innermost messages, not the group around them.
        raise UpstreamError(f"{upstream.describe()}: {_innermost(error)}") from error
    return tools


def _innermost(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(_innermost(inner) for inner in error.exceptions))
    cause = error.__cause__ or error.__context__
    message = str(error) or type(error).__name__
    if cause is not None and not isinstance(error, (OSError, httpx2.HTTPError)):
        inner = _innermost(cause)
        return message if inner == message else f"{message} ({inner})"
    return message


async def _page_tools(client: Any, into: list[dict[str, Any]]) -> None:
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        into.extend(
            tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in page.tools
        )
        cursor = page.next_cursor
        if cursor is None:
            return
        if cursor in seen:
            raise UpstreamError(f"tools/list handed out cursor {cursor!r} twice (a loop)")
        seen.add(cursor)
    raise UpstreamError(f"tools/list still had more pages after {MAX_PAGES}")
