"""`callgate replay -c POLICY [--audit PATH] [--since T] [--until T] [--format table|json]`.

Judges the `tools/call` decisions an audit log recorded again under POLICY and prints
the calls that would now be treated differently, grouped by old and new decision and
rule (see `callgate.replay`). The log's chains are verified first (`--no-verify` skips
it): replay refuses a log that may have been altered.

Exit codes: 0 nothing would change; 1 calls would change, or replay cannot tell for
some (unless `--allow-unknown`); 2 usage or input errors (an invalid policy, listed as
`callgate validate` lists it; no audit log; a log that does not verify; an unreadable
key).
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callgate.policy.compiler import CompiledPolicy
    from callgate.replay.report import Group, Report

EXIT_SAME, EXIT_CHANGED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add the `replay` sub-command."""
    parser = subparsers.add_parser(
        "replay",
        help="judge the audit log's recorded calls under a new policy; show what changes",
        description="Judge the tools/call decisions of an audit log again under POLICY and "
        "show the calls that would now be denied, allowed, rate limited or held for "
        "approval. Exit 0: nothing changes; 1: something changes (or cannot be told); "
        "2: bad input.",
    )
    parser.add_argument("-c", "--config", required=True, type=Path, metavar="POLICY")
    parser.add_argument("--audit", type=Path, metavar="PATH", help="audit directory or log file")
    parser.add_argument("--since", metavar="TIME", help="from (ISO 8601 UTC, or an age: 2h, 7d)")
    parser.add_argument("--until", metavar="TIME", help="before (same forms as --since)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--examples", type=int, default=3, metavar="N", help="calls shown per group (default 3)"
    )
    parser.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="verify the log's chains first and refuse a log that does not verify "
        "(default; --no-verify replays it as it is, and reads a single-file log)",
    )
    parser.add_argument("--key", type=Path, metavar="FILE", help="the audit key, for verifying")
    parser.add_argument(
        "--allow-unknown",
        action="store_true",
        help="exit 0 when nothing changes but some calls cannot be told",
    )
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"callgate replay: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    """Replay the log under the policy, print the report, exit by what changed."""
    import time

    import anyio

    from callgate.app import readable_audit_path
    from callgate.audit.query import RecordFilter, parse_time
    from callgate.audit.reading import query
    from callgate.replay import build_report, judge_calls, read_calls
    from callgate.replay.simulation import longest_window
    from callgate.state.memory import MemoryStore

    policy = _policy(args.config)
    if isinstance(policy, int):
        return policy
    if args.examples < 0:
        return _usage("--examples must be 0 or more")
    now = time.time()
    try:
        since = parse_time(args.since, now) if args.since else None
        until = parse_time(args.until, now) if args.until else None
    except ValueError as error:
        return _usage(str(error))
    path: Path = args.audit or readable_audit_path()
    if not path.exists():
        return _usage(f"no audit log at {path} (give --audit PATH)")
    if args.verify:
        problem = _unverified(path, args.key)
        if problem is not None:
            return _usage(problem)
    # Calls before --since count towards the limits and counters of the calls after it:
    # read from one of the policy's longest windows earlier, judge, report from --since.
    warm = None if since is None else _earlier(since, longest_window(policy))
    try:
        reading = read_calls(query(path, RecordFilter(since=warm, until=until)))
    except OSError as error:
        return _usage(f"cannot read the audit log {path}: {error}")
    judged = anyio.run(judge_calls, policy, reading.calls, MemoryStore())
    reported = judged if since is None else [one for one in judged if one.call.time >= since]
    report = build_report(reported, reading.skipped, examples=args.examples)
    if args.format == "json":
        _print_json(report, args, path, warm)
    else:
        _print_table(report, args.config, path, warm)
    if report.changed or (report.unknown and not args.allow_unknown):
        return EXIT_CHANGED
    return EXIT_SAME


def _earlier(moment: str, seconds: int) -> str:
    """The record time `seconds` before the record time `moment`."""
    from datetime import datetime

    from callgate.audit.record import format_time

    return format_time(datetime.fromisoformat(moment).timestamp() - seconds)


def _policy(path: Path) -> CompiledPolicy | int:
    """The compiled policy, or the exit code after listing its errors as validate does."""
    from callgate.errors import PolicyError
    from callgate.policy.compiler import load_compiled_policy

    try:
        return load_compiled_policy(path)
    except PolicyError as error:
        for issue in error.issues:
            print(issue.render(), file=sys.stderr)
        count = len(error.issues)
        return _usage(f"{path} is not a valid policy: {count} error{'s' if count != 1 else ''}")


def _unverified(path: Path, key_file: Path | None) -> str | None:
    """Why the log at `path` cannot be replayed as verified, or None when it verifies."""
    from callgate.app import audit_key_path
    from callgate.audit.directory import verify_directory
    from callgate.audit.sink import read_install_key

    if not path.is_dir():
        return (
            f"{path} is a single file: it has no chain to verify (pass --no-verify to replay "
            "it as it is)"
        )
    key_path = key_file or audit_key_path()
    try:
        key = read_install_key(key_path)
    except (OSError, ValueError) as error:
        return (
            f"cannot read the audit key {key_path} to verify the log: {error} "
            "(give --key FILE, or --no-verify)"
        )
    try:
        verification = verify_directory(path, key)
    except OSError as error:
        return f"cannot read the audit directory {path}: {error}"
    if verification.intact:
        return None
    broken = [
        f"{report.writer}: {report.finding.problem.upper()}: {report.finding.message}"
        for report in verification.reports
        if report.finding is not None
    ]
    broken += [f"{name}: not a chained log file of any writer" for name in verification.strangers]
    return (
        "the audit log does not verify, so its records may have been altered:\n  "
        + "\n  ".join(broken)
        + "\n(see `callgate audit verify`; --no-verify replays it anyway)"
    )


def _print_json(
    report: Report, args: argparse.Namespace, path: Path, counters_from: str | None
) -> None:
    import json

    out = {
        "policy": str(args.config),
        "audit": str(path),
        "verified": bool(args.verify),
        "since": args.since,
        "until": args.until,
        "counters_from": counters_from,
        **report.to_dict(),
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))


def _print_table(report: Report, policy: Path, path: Path, counters_from: str | None) -> None:
    from rich.console import Console
    from rich.text import Text

    from callgate.replay.report import Change

    console = Console(highlight=False, markup=False)  # paths and values hold brackets
    if not report.calls:
        console.print(f"No tools/call decisions to replay in {path}.", soft_wrap=True)
    else:
        span = f" ({report.first} to {report.last})" if report.first != report.last else ""
        console.print(
            f"Replayed {_count(report.calls, 'call')}{span} from {path} under {policy}:",
            soft_wrap=True,
        )
        summary = Text("  ")
        summary.append(f"{report.counts[Change.UNCHANGED]} unchanged", style="green")
        summary.append(", ")
        summary.append(
            f"{report.changed} would change", style="bold red" if report.changed else None
        )
        if report.counts[Change.OTHER_RULE]:
            summary.append(f", {report.counts[Change.OTHER_RULE]} by another rule")
        if report.unknown:
            summary.append(", ")
            summary.append(f"{report.unknown} cannot be told", style="yellow")
        console.print(summary, soft_wrap=True)
    kept = {kept.value: count for kept, count in report.arguments.items() if count}
    if kept.get("hash"):
        console.print(
            Text(
                f"  {_count(kept['hash'], 'call')} recorded with audit.arguments: hash: "
                "conditions on their arguments cannot be judged",
                style="yellow",
            ),
            soft_wrap=True,
        )
    if counters_from is not None:
        console.print(
            f"  limits and counters count the calls from {counters_from} on (the policy's "
            "longest window before --since)",
            soft_wrap=True,
        )
    for why, count in report.skipped.items():
        console.print(f"  {_count(count, 'record')} not replayed: {why}", soft_wrap=True)
    for group in report.groups:
        console.print()
        console.print(_heading(group), soft_wrap=True)
        if group.examples:
            console.print(_examples_table(group))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _decision(verdict: str, rule: str | None) -> str:
    return f"{verdict} by {rule!r}" if rule else verdict


def _heading(group: Group) -> Any:
    from rich.text import Text

    from callgate.replay.report import Change

    style = {Change.CHANGED: "bold red", Change.OTHER_RULE: "bold"}.get(group.change, "yellow")
    line = Text(f"{group.title}: {_count(group.count, 'call')}", style=style)
    old = _decision(group.old.verdict, group.old.rule)
    if group.old.shadow is not None:
        old += f" (shadow: {_decision(group.old.shadow, group.old.shadow_rule)})"
    line.append(f"   was {old}")
    if group.new is not None:
        line.append(f", now {_decision(group.new.verdict, group.new.rule)}")
    return line


def _examples_table(group: Group) -> Any:
    import json

    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 2))
    for column in ("time", "agent", "tool", "arguments", "reason now"):
        table.add_column(column, overflow="fold")
    for example in group.examples:
        arguments = (
            "(hashed)"
            if example.arguments is None
            else json.dumps(example.arguments, ensure_ascii=False, sort_keys=True)
        )
        # Text, not markup: recorded values hold brackets ("[redacted]").
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    example.time[:23].replace("T", " "),
                    example.agent,
                    f"{example.server}/{example.tool}",
                    arguments,
                    example.new_reason or "",
                )
            )
        )
    return table
