"""`callgate audit`: read, search, verify and export the audit log.

    callgate audit tail [-n N] [-f] [FILTERS]           the last decisions, then new ones
    callgate audit query [FILTERS] [--format table|json|csv] [--limit N]
    callgate audit verify [--key FILE] [--strict] [--format text|json]
    callgate audit export [-o FILE] [FILTERS]           JSON lines for a SIEM

FILTERS: --since/--until (ISO time or an age such as 2h), --tool, --server, --agent,
--session, --decision, --rule, --category (each repeatable; values may be patterns).
Every command takes `--audit PATH` (default: the directory `callgate run` writes to).
Exit codes: 0 done (verify: every chain intact), 1 verify found a break, 2 usage.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from callgate.audit.directory import Verification
    from callgate.audit.query import RecordFilter

_FILTERS = ("tool", "server", "agent", "session", "decision", "rule", "category")


def register(subparsers: Any) -> None:
    """Add the `audit` sub-command and its own sub-commands."""
    parser = subparsers.add_parser(
        "audit",
        help="read, search, verify and export the audit log",
        description="Read, search, verify and export the audit log (a directory with one "
        "chained log per callgate process).",
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    tail = commands.add_parser("tail", help="the last decisions, one line each; -f follows")
    _add_common(tail)
    tail.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="how many")
    tail.add_argument("-f", "--follow", action="store_true", help="print new records as written")
    tail.set_defaults(func=run_tail)

    query = commands.add_parser("query", help="records matching filters")
    _add_common(query)
    query.add_argument("--format", choices=("table", "json", "csv"), default="table")
    query.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="keep the last N matches (default: 100 for table, all for json and csv; 0: all)",
    )
    query.set_defaults(func=run_query)

    verify = commands.add_parser(
        "verify", help="check every writer's chain: exit 0 intact, 1 with the first break"
    )
    verify.add_argument("--audit", type=Path, metavar="DIR", help="audit directory")
    verify.add_argument("--key", type=Path, metavar="FILE", help="the audit key (hex)")
    verify.add_argument(
        "--strict",
        action="store_true",
        help="also fail when a writer stopped without closing its chain (killed, crashed)",
    )
    verify.add_argument("--format", choices=("text", "json"), default="text")
    verify.set_defaults(func=run_verify)

    export = commands.add_parser("export", help="records as JSON lines (for a SIEM)")
    _add_common(export)
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    export.set_defaults(func=run_export)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audit", type=Path, metavar="PATH", help="audit directory or log file")
    parser.add_argument("--since", metavar="TIME", help="from (ISO 8601 UTC, or an age: 2h, 7d)")
    parser.add_argument("--until", metavar="TIME", help="before (same forms as --since)")
    for name in _FILTERS:
        parser.add_argument(
            f"--{name}", action="append", metavar=name.upper(), help="repeatable; * ? [ match"
        )


def _usage(message: str) -> int:
    print(f"callgate audit: {message}", file=sys.stderr)
    return 2


def _chosen(args: argparse.Namespace) -> tuple[Path, RecordFilter] | int:
    """The log to read and the filter the flags ask for, or the exit code of a usage error."""
    import time

    from callgate.app import readable_audit_path
    from callgate.audit.query import RecordFilter, parse_time

    path: Path = args.audit or readable_audit_path()
    if not path.exists():
        return _usage(f"no audit log at {path} (give --audit PATH)")
    now = time.time()
    try:
        return path, RecordFilter(
            since=parse_time(args.since, now) if args.since else None,
            until=parse_time(args.until, now) if args.until else None,
            values={name: getattr(args, name) for name in _FILTERS if getattr(args, name)},
        )
    except ValueError as error:
        return _usage(str(error))


def run_tail(args: argparse.Namespace) -> int:
    """Print the last records, then (with -f) new ones until interrupted."""
    from rich.console import Console

    from callgate.audit.reading import follow, last_records, snapshot
    from callgate.audit.terminal import record_line

    chosen = _chosen(args)
    if isinstance(chosen, int):
        return chosen
    path, wanted = chosen
    console = Console(highlight=False)
    # The files' lengths now: the last lines come from before, following from after.
    sizes = snapshot(path)
    for record in last_records(path, max(args.lines, 0), wanted, upto=sizes):
        console.print(record_line(record), soft_wrap=True)
    if args.follow:
        for record in follow(path, wanted, since=sizes):
            console.print(record_line(record), soft_wrap=True)
    return 0


def run_query(args: argparse.Namespace) -> int:
    """Print the matching records as a table, a JSON array or CSV."""
    from collections import deque

    from callgate.audit.reading import query

    chosen = _chosen(args)
    if isinstance(chosen, int):
        return chosen
    path, wanted = chosen
    limit = args.limit if args.limit is not None else (100 if args.format == "table" else 0)
    if limit < 0:
        return _usage("--limit must be 0 (all) or more")
    records = query(path, wanted, tag_writer=args.format != "table")
    if args.format == "json":
        _print_json(deque(records, maxlen=limit) if limit else records, sys.stdout)
    elif args.format == "csv":
        _print_csv(deque(records, maxlen=limit) if limit else records, sys.stdout)
    else:
        _print_table(records, limit)
    return 0


def _print_json(records: Any, out: TextIO) -> None:
    import json

    out.write("[")
    for index, record in enumerate(records):
        out.write(",\n" if index else "\n")
        out.write(json.dumps(record, ensure_ascii=False))
    out.write("\n]\n")


def _print_csv(records: Any, out: TextIO) -> None:
    import csv

    from callgate.audit.terminal import CSV_COLUMNS, csv_row

    writer = csv.writer(out)
    writer.writerow((*CSV_COLUMNS, "writer"))
    for record in records:
        writer.writerow((*csv_row(record), record.get("writer", "")))


def _print_table(records: Any, limit: int) -> None:
    from collections import deque

    from rich.console import Console

    from callgate.audit.terminal import records_table

    shown: deque[Any] = deque(maxlen=limit or None)
    total = 0
    for record in records:
        shown.append(record)
        total += 1
    console = Console(highlight=False)
    if not total:
        console.print("No records match.")
        return
    plural = "s" if total != 1 else ""
    title = (
        f"{total} record{plural}"
        if len(shown) == total
        else f"the last {len(shown)} of {total} records"
    )
    console.print(records_table(shown, title=title))


def run_export(args: argparse.Namespace) -> int:
    """Write the matching records as JSON lines, each with its `writer`."""
    import json

    from callgate.audit.reading import query

    chosen = _chosen(args)
    if isinstance(chosen, int):
        return chosen
    path, wanted = chosen
    try:
        out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    except OSError as error:
        return _usage(f"cannot write {args.output}: {error}")
    count = 0
    try:
        for record in query(path, wanted, tag_writer=True):
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output:
        print(f"callgate audit: {count} records written to {args.output}", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Check every chain; 0 when all are intact, 1 naming the first break of each."""
    from callgate.app import audit_key_path, default_audit_path
    from callgate.audit.directory import verify_directory
    from callgate.audit.sink import read_install_key

    path: Path = args.audit or default_audit_path()
    if not path.is_dir():
        if path.is_file():
            return _usage(
                f"{path} is a file: verify checks an audit directory (a log from before "
                "chained logs has no chain to check)"
            )
        return _usage(f"no audit directory at {path} (give --audit DIR)")
    key_path: Path = args.key or audit_key_path()
    try:
        key = read_install_key(key_path)
    except (OSError, ValueError) as error:
        return _usage(f"cannot read the audit key {key_path}: {error}")
    verification = verify_directory(path, key)
    if args.format == "json":
        _print_verification_json(verification)
    else:
        _print_verification(verification)
    stopped = any(report.state == "stopped" for report in verification.reports)
    return 0 if verification.intact and not (args.strict and stopped) else 1


def _print_verification(verification: Verification) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    for report in verification.reports:
        line = Text()
        if report.finding is None:
            mark = "!" if report.state == "stopped" else "ok"
            line.append(f"{mark:>2} ", style="yellow" if mark == "!" else "green")
            line.append(f"{report.writer}  {report.describe()}")
        else:
            line.append(" X ", style="bold red")
            line.append(f"{report.writer}  ")
            line.append(f"{report.finding.problem.upper()}: ", style="bold red")
            line.append(report.finding.message)
        console.print(line, soft_wrap=True)
    for name in verification.strangers:
        console.print(
            Text(" X ", style="bold red")
            + Text(f"{name}  not a chained log file of any writer (planted or moved in)"),
            soft_wrap=True,
        )
    broken = sum(1 for report in verification.reports if report.finding is not None)
    writers = len(verification.reports)
    summary = f"{writers} writer{'s' if writers != 1 else ''}, " + (
        f"{broken} broken" if broken else "every chain intact"
    )
    if verification.strangers:
        summary += f", {len(verification.strangers)} stray log files"
    console.print(summary, soft_wrap=True)


def _print_verification_json(verification: Verification) -> None:
    import json

    out = {
        "directory": str(verification.directory),
        "intact": verification.intact,
        "strangers": verification.strangers,
        "writers": [
            {
                "writer": report.writer,
                "state": report.state.value,
                "records": report.records,
                "files": report.files,
                "last_seq": report.last_seq,
                "end": str(report.end) if report.end else None,
                "checkpoint_seq": report.checkpoint_seq,
                "torn": report.torn,
                "problem": report.finding.problem.value if report.finding else None,
                "message": report.finding.message if report.finding else report.describe(),
                "at": str(report.finding.position)
                if report.finding and report.finding.position
                else None,
                "seq": report.finding.seq if report.finding else None,
            }
            for report in verification.reports
        ],
    }
    print(json.dumps(out, indent=2))
