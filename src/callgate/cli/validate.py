"""`callgate validate -c POLICY [--strict [--tools FILE | --upstream URL | -- CMD ARGS...]]`.

Prints `valid` and exits 0, or prints every problem as `file:line:column: key: message
(hint)` and exits 1. `--strict` also reports rules that can never fire or probably let
calls through (see `callgate.policy.lint`); given the server's tools (a JSON file, or the
server itself), it also checks that conditions name arguments the tools have.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add the `validate` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check a policy file and list every error",
        description="Validate a policy file: prints 'valid' (exit 0) or every error with "
        "file:line:column and a hint (exit 1).",
    )
    parser.add_argument("-c", "--config", required=True, type=Path, metavar="POLICY")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also flag rules that never fire, shadowed patterns and unread counters",
    )
    parser.add_argument(
        "--tools",
        metavar="FILE",
        help="the server's tools (JSON list or tools/list result) for --strict argument checks",
    )
    from callgate.scan.target import add_upstream_arguments

    add_upstream_arguments(parser, required=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the policy named by `-c` and print the result."""
    from callgate.errors import PolicyError
    from callgate.policy.compiler import load_compiled_policy

    try:
        policy = load_compiled_policy(Path(args.config))
    except PolicyError as error:
        for issue in error.issues:
            print(issue.render())
        count = len(error.issues)
        print(f"{count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return EXIT_INVALID
    problem = _lock_problem(Path(args.config), policy.integrity)
    if problem is not None:
        # callgate run would treat every tool as unverified: say so now, not at run time.
        print(f"{args.config}: integrity.lock: {problem}")
        print("1 error", file=sys.stderr)
        return EXIT_INVALID
    if args.strict:
        from callgate.policy.lint import lint_policy

        try:
            tools = _server_tools(args)
        except ValueError as error:
            print(f"callgate validate: {error}", file=sys.stderr)
            return EXIT_USAGE
        findings = lint_policy(policy, tools)
        if findings:
            for issue in findings:
                print(issue.render())
            count = len(findings)
            print(f"{count} problem{'s' if count != 1 else ''} (--strict)", file=sys.stderr)
            return EXIT_INVALID
    print("valid")
    return EXIT_OK


def _server_tools(args: argparse.Namespace) -> list[Mapping[str, Any]] | None:
    """The tools named by --tools, --upstream or -- CMD; None when none is given."""
    command = [part for part in args.command if part != "--"]
    if args.tools is None and args.upstream is None and not command:
        return None
    if args.tools is not None:
        if args.upstream is not None or command:
            raise ValueError("give --tools FILE, --upstream URL or -- CMD ARGS..., only one")
        from callgate.cli.classify import read_tool_file

        return read_tool_file(args.tools)
    import anyio

    from callgate.scan.target import UpstreamError, upstream_from_args
    from callgate.scan.upstream import fetch_tools

    upstream = upstream_from_args(args.upstream, args.header, args.command)
    try:
        return list(anyio.run(fetch_tools, upstream))
    except UpstreamError as error:
        raise ValueError(str(error)) from error


def _lock_problem(config: Path, integrity: Any) -> str | None:
    """Why the lock the policy's `integrity:` names cannot be used, if it cannot."""
    if integrity is None:
        return None
    from callgate.integrity.lock import LockError, parse_lock

    path = config.parent / integrity.lock
    try:
        parse_lock(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        return f"cannot read {path}: {error.strerror or error} (write it with callgate pin)"
    except LockError as error:
        return str(error)
    return None
