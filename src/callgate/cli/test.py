"""`callgate test FILE...`: run policy test cases; exit 1 when any case fails.

Each FILE names a policy (path or inline) and lists calls with the decision expected for
each (see `callgate.policy.testing`). Prints one line per case and `N passed, N failed`.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED = 0, 1


def register(subparsers: Any) -> None:
    """Add the `test` sub-command."""
    parser = subparsers.add_parser(
        "test",
        help="run policy test cases (call -> expected decision)",
        description="Run policy test files: each case is a call and the decision expected.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run every file's cases and print a summary."""
    from rich.console import Console
    from rich.markup import escape

    from callgate.errors import PolicyError
    from callgate.policy.testing import run_test_file

    console = Console(highlight=False, soft_wrap=True)
    passed = failed = broken = 0
    for path in args.files:
        try:
            result = run_test_file(path)
        except PolicyError as error:
            broken += 1
            console.print(f"[red]error[/red] {escape(str(path))}: cannot run")
            for issue in error.issues:
                console.print(f"  {escape(issue.render())}")
            continue
        for case in result.cases:
            if case.passed:
                if not args.quiet:
                    console.print(f"[green]pass[/green] {escape(result.file)}: {escape(case.name)}")
                continue
            console.print(f"[red]FAIL[/red] {escape(result.file)}: {escape(case.name)}")
            for problem in case.problems:
                console.print(f"     {escape(problem)}")
        passed += result.passed
        failed += result.failed
    summary = f"{passed} passed, {failed} failed"
    if broken:
        summary += f", {broken} file{'s' if broken != 1 else ''} with errors"
    console.print(summary)
    return EXIT_OK if failed == 0 and broken == 0 else EXIT_FAILED
