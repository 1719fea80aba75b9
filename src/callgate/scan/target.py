"""Where `callgate classify` and `callgate scan` get tools from, as given on the command line.

Kept free of heavy imports: the sub-commands register these arguments while building the
parser, and `callgate --help` must stay fast. The fetching itself is in
`callgate.scan.upstream`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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
