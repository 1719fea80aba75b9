"""`callgate status`: what the proxy decided, summarised from the audit log."""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `status` sub-command."""
    parser = subparsers.add_parser(
        "status",
        help="summarise calls, denials and top rules from the audit log",
        description="Summarise the audit log: calls judged, decisions, denials by rule and "
        "tool, outcomes and upstream latency of allowed calls.",
    )
    parser.add_argument(
        "--audit", type=Path, metavar="PATH", help="audit directory (or one log file) to read"
    )
    parser.add_argument("--top", type=int, default=5, metavar="N", help="rows per top list")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary; 1 when there is no audit log to read."""
    from rich.console import Console
    from rich.table import Table

    from callgate.app import readable_audit_path
    from callgate.audit.reading import text_lines
    from callgate.proxy.summary import summarize

    path: Path = args.audit or readable_audit_path()
    try:
        summary = summarize(text_lines(path))
    except OSError as error:
        print(f"callgate status: cannot read the audit log {path}: {error}", file=sys.stderr)
        return 1
    console = Console()
    console.print(f"[bold]Audit log[/bold] {path}")
    if summary.calls == 0:
        console.print("No calls judged yet.")
        return 0
    console.print(
        f"{summary.calls} calls judged from {summary.first} to {summary.last}: "
        f"{summary.allowed} allowed, {summary.refused} stopped"
    )

    decisions = Table(title="Decisions")
    decisions.add_column("decision")
    decisions.add_column("calls", justify="right")
    decisions.add_column("share", justify="right")
    for decision, count in summary.decisions.most_common():
        decisions.add_row(decision, str(count), f"{100 * count / summary.calls:.1f}%")
    console.print(decisions)

    for title, counter, label in (
        ("Top rules stopping calls", summary.rules, "rule"),
        ("Most stopped tools", summary.denied_tools, "tool"),
        ("Shadow rules that would have stopped calls", summary.shadow_rules, "rule"),
        ("Outcomes of allowed calls", summary.outcomes, "outcome"),
    ):
        if not counter:
            continue
        table = Table(title=title)
        table.add_column(label)
        table.add_column("calls", justify="right")
        for name, count in counter.most_common(args.top):
            table.add_row(name, str(count))
        console.print(table)

    p50 = summary.latency_percentile(50)
    p99 = summary.latency_percentile(99)
    if p50 is not None and p99 is not None:
        console.print(f"Upstream latency of allowed calls: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    for what, count in summary.other_decisions.most_common():
        console.print(f"Also decided: {what} x {count}")
    if summary.unreadable:
        console.print(f"[yellow]{summary.unreadable} unreadable lines skipped[/yellow]")
    return 0
