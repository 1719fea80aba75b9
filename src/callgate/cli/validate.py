"""`callgate validate -c POLICY [--strict] [--tools FILE]`: check a policy file.

Prints `valid` and exits 0, or prints every problem as `file:line:column: key: message
(hint)` and exits 1. `--strict` also reports rules that can never fire or probably let
calls through (see `callgate.policy.lint`); `--tools` gives it the server's tool list so it
can check argument names.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
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
        type=Path,
        metavar="FILE",
        help="the server's tools (JSON list or tools/list result) for --strict argument checks",
    )
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
    if args.strict:
        from callgate.policy.lint import lint_policy

        tools = None
        if args.tools is not None:
            try:
                tools = _read_tools(args.tools)
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


def _read_tools(path: Path) -> list[dict[str, Any]]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error
    if isinstance(data, dict) and isinstance(data.get("result"), dict):
        data = data["result"]
    if isinstance(data, dict):
        data = data.get("tools")
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise ValueError(f"{path}: expected a JSON list of tools or a tools/list result")
    return data
