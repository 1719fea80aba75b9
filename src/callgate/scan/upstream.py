"""Fetching an MCP server's full tool list with the official `mcp` client.

The edge that `callgate classify` and `callgate scan` share: connect over stdio (a child
process) or Streamable HTTP, page through `tools/list` with cursors, and return each tool
in its wire (JSON) form, which is what the classifier reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# A server that keeps handing out cursors is broken; stop rather than loop forever.
MAX_PAGES = 1000


class UpstreamError(Exception):
    """The upstream could not be reached or answered `tools/list` badly."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the tools come from: a command to spawn, or a Streamable HTTP URL."""

    command: Sequence[str] = ()
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """A short human name for messages and generated comments."""
        return self.url if self.url is not None else " ".join(self.command)


def parse_header(text: str) -> tuple[str, str]:
    """Split a `--header "K: V"` argument; raise ValueError when there is no colon or name."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"header {text!r} is not of the form 'Name: value'")
    return name.strip(), value.strip()


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
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        into.extend(
            tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in page.tools
        )
        cursor = page.next_cursor
        if cursor is None:
            return
    raise UpstreamError(f"tools/list still had more pages after {MAX_PAGES}")


def add_upstream_arguments(parser: Any, *, required: bool = True) -> None:
    """Add `--upstream URL`, `--header "K: V"`... and `-- CMD ARGS...` to a sub-command."""
    parser.add_argument("--upstream", metavar="URL", help="Streamable HTTP MCP server")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar='"K: V"',
        help="header sent to the HTTP upstream (repeatable)",
    )
    parser.add_argument(
        "command",
        nargs="...",
        metavar="-- CMD ARGS",
        help="MCP server to spawn over stdio" + ("" if required else " (or use --tools)"),
    )


def upstream_from_args(url: str | None, headers: Sequence[str], command: Sequence[str]) -> Upstream:
    """The upstream the arguments name; ValueError when they name none, both, or bad headers."""
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if url is not None and argv:
        raise ValueError("give either --upstream URL or -- CMD ARGS..., not both")
    if url is None and not argv:
        raise ValueError("no upstream: give --upstream URL or -- CMD ARGS...")
    if headers and url is None:
        raise ValueError("--header only applies to an --upstream URL")
    return Upstream(command=tuple(argv), url=url, headers=dict(map(parse_header, headers)))
