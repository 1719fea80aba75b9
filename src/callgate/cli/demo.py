"""`callgate demo`: see callgate judge a scripted agent's calls to an example server."""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `demo` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run a scripted agent through callgate against an example server",
        description="Start callgate in front of the example MCP server shipped with callgate, "
        "make calls that show allow, deny, hidden, rate limit and invalid arguments, "
        "and approvals asked and answered (in the agent's own client, and by an operator "
        "with `callgate approvals approve`), and print what happened.",
    )
    parser.add_argument(
        "--audit", type=Path, metavar="PATH", help="keep the audit log in this directory"
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "legacy"),
        default="auto",
        help="MCP protocol: auto (2026-07-28 when offered) or legacy (2025-11-25)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every call got the decision the example policy gives it."""
    import tempfile
    import time
    from importlib import resources

    import anyio
    from rich.console import Console

    from callgate.audit.reading import read_records
    from callgate.demo.agent import render, run_demo

    console = Console()
    if not console.is_terminal or console.width > 120:
        console = Console(width=120)  # the table is laid out for 120 columns
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="callgate-demo-") as scratch:
        audit = args.audit or Path(scratch) / "audit"
        with resources.as_file(resources.files("callgate.demo") / "policy.yaml") as policy:
            console.print(f"[bold]Policy:[/bold] {policy}")
            state = Path(scratch) / "state.db"
            listed, outcomes = anyio.run(run_demo, policy, audit, state, args.mode)
        ok = render(listed, outcomes, console)
        records = len(read_records(audit)) if audit.exists() else 0
        where = audit if args.audit else "a temporary directory (use --audit PATH to keep it)"
        console.print(f"Audit log: {records} records written to {where}")
    console.print(f"Done in {time.monotonic() - started:.1f} s.")
    return 0 if ok else 1
