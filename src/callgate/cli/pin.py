"""`callgate pin`: record each tool's definition in a lock file, check or update it.

    callgate pin [-o callgate.lock] [--server-name NAME] [--check | --update]
                 (--upstream URL [--header "K: V"]... | -- CMD ARGS...)

Without `--check` or `--update`, pins a server the lock does not hold yet (creating the
file), and only says so when it is already pinned as listed; a server whose tools changed
is left as pinned (exit 1, the diff printed): accepting a change is `--update`.
`--check` prints the diff of every changed, new or removed tool and exits 1 when there is
one (CI). `--update` writes what the server lists now and prints what it accepted.
The server is pinned under the name `callgate run` gives it (`--server-name` as there).

Exit codes: 0 pinned / no change, 1 a difference (or not pinned, with `--check`),
2 usage, 3 the server or the lock could not be read.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_CHANGED, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


def register(subparsers: Any) -> None:
    """Add the `pin` sub-command."""
    from callgate.scan.target import add_upstream_arguments

    parser = subparsers.add_parser(
        "pin",
        help="pin a server's tool definitions in a lock file",
        description="Record each tool's definition (description, inputSchema, outputSchema, "
        "annotations) and its SHA-256 in a lock file; with integrity: in the policy, "
        "callgate run checks every tools/list against it.",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("callgate.lock"),
        metavar="FILE",
        help="the lock file (default: callgate.lock)",
    )
    parser.add_argument(
        "--server-name", metavar="NAME", help="the upstream's name, as given to callgate run"
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--check", action="store_true", help="exit 1 with a diff when the tools changed"
    )
    action.add_argument("--update", action="store_true", help="accept the tools as listed now")
    add_upstream_arguments(parser)
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(f"callgate pin: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Fetch the server's tools and pin, check or update them."""
    import anyio

    from callgate.cli.run import _server_name
    from callgate.integrity.lock import Lock, LockError, ToolStatus, compare_server, parse_lock
    from callgate.integrity.lock import pin_server as pin_tools
    from callgate.scan.target import UpstreamError, upstream_from_args
    from callgate.scan.upstream import fetch_tools

    try:
        upstream = upstream_from_args(args.upstream, args.header, args.command)
    except ValueError as error:
        _say(str(error))
        return EXIT_USAGE
    server = args.server_name or _server_name(upstream.url, list(upstream.command))
    path: Path = args.output
    try:
        lock = parse_lock(path.read_text(encoding="utf-8"), str(path)) if path.exists() else Lock()
    except (OSError, LockError) as error:
        _say(str(error))
        return EXIT_RUNTIME
    try:
        tools = anyio.run(fetch_tools, upstream)
    except UpstreamError as error:
        _say(str(error))
        return EXIT_RUNTIME
    pins = lock.servers.get(server)
    changes = [c for c in compare_server(pins, tools) if c.status is not ToolStatus.UNCHANGED]
    if args.check and pins is None:
        _say(f"server {server!r} is not pinned in {path} (run callgate pin first)")
        return EXIT_CHANGED
    if pins is not None and not changes:
        _say(f"{len(tools)} tools of server {server!r} are as pinned in {path}")
        return EXIT_OK
    if pins is not None:
        _print_changes(changes)
    if pins is not None and not args.update:
        how = "" if args.check else "; run with --update to accept"
        _say(f"{_count(changes)} of server {server!r} differ from {path}{how}")
        return EXIT_CHANGED
    updated = lock.with_server(server, pin_tools(tools, origin=upstream.describe()))
    temporary = path.with_name(f".{path.name}.pin-tmp")
    temporary.write_text(updated.to_json(), encoding="utf-8")
    temporary.replace(path)  # never half a lock
    done = f"accepted {_count(changes)}" if pins is not None else f"pinned {len(tools)} tools"
    _say(f"{done} of server {server!r} in {path}")
    return EXIT_OK


def _count(changes: list[Any]) -> str:
    return f"{len(changes)} tool" + ("" if len(changes) == 1 else "s")


def _print_changes(changes: list[Any]) -> None:
    """Each changed, new or removed tool and its diff, on stdout."""
    for change in changes:
        print(f"{change.status.value}: {change.name}")
        print(change.diff)
        print()
