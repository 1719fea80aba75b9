"""How fast a large chained audit log is written, verified and queried.

    .venv/bin/python bench/audit.py [--records N] [--repeat N] [--keep DIR] [--json FILE]

Builds an audit directory of N records (default 1,000,000) with the writer's own code
(`ChainWriter`, the arguments redacted as the default policy does, rotation at 64 MiB):
realistic decisions from 3 writers' worth of agents and tools, most allowed, some denied,
rate limited or held for approval. Then times, `--repeat` times each (median printed):

    verify          `verify_directory`: every line's chain link, every checkpoint
    query           `query` with `--tool delete_record --decision deny` (a rare match)
    query by time   `query` with a one-hour `--since/--until` window in the middle
    verify (CLI)    `callgate audit verify` as a process (start-up included)
    query (CLI)     `callgate audit query --tool delete_record --decision deny
                    --format json` as a process, output discarded

Targets (issue 13): verify < 10 s and a filtered query < 5 s for 1,000,000 records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callgate.audit.directory import verify_directory
from callgate.audit.query import RecordFilter
from callgate.audit.reading import query
from callgate.audit.record import build_event, format_time, with_time
from callgate.audit.redaction import DEFAULT_RECORDING
from callgate.audit.sink import ChainWriter

ROOT = Path(__file__).resolve().parents[1]
KEY = bytes(range(32))
START = 1_800_000_000.0
TARGET_VERIFY_S = 10.0
TARGET_QUERY_S = 5.0
TOOLS = [
    ("read_record", "read"),
    ("list_records", "read"),
    ("search", "read"),
    ("write_record", "write"),
    ("run_command", "execute"),
    ("issue_refund", "financial"),
    ("delete_record", "destructive"),
]
DECISIONS = ["allow"] * 90 + ["deny"] * 6 + ["rate_limited"] * 3 + ["approval_required"]


def _arguments(tool: str, rng: random.Random, n: int) -> dict[str, Any]:
    if tool == "run_command":
        return {"command": rng.choice(["ls -la /srv", "uptime", "whoami"]), "timeout": 30}
    if tool == "issue_refund":
        return {"amount": rng.randint(1, 9000), "customer": f"cus_{n % 5000:05d}"}
    if tool == "search":
        return {"query": f"orders for customer {n % 977}", "limit": 20}
    return {"id": f"rec-{n % 100_000}", "fields": ["name", "status"], "api_key": "k-123"}


def build_log(directory: Path, records: int) -> tuple[float, int]:
    """Write `records` chained records; returns the seconds taken and the bytes written."""
    rng = random.Random(13)
    writers = [ChainWriter(directory, KEY, writer=f"bench-w{i}") for i in range(3)]
    started = time.perf_counter()
    batch: list[list[dict[str, Any]]] = [[], [], []]
    for n in range(records):
        tool, category = TOOLS[rng.randrange(len(TOOLS))]
        decision = DECISIONS[rng.randrange(len(DECISIONS))]
        allowed = decision == "allow"
        event = build_event(
            now=START + n * 0.05,  # 20 decisions a second: 1M span about 14 hours
            server="records",
            session=f"{n // 500:08x}",
            agent=f"agent-{n % 7}",
            method="tools/call",
            tool=tool,
            category=category,
            flags=("money",) if category == "financial" else (),
            decision=decision,
            rule=None if allowed else f"{tool}-rule",
            reason="" if allowed else "refused by the policy",
            latency_ms=rng.uniform(1, 40) if allowed else None,
            outcome="ok" if allowed else None,
            result_bytes=rng.randint(80, 4000) if allowed else None,
        )
        fields = {
            **with_time(event, START),
            **DEFAULT_RECORDING.fields(_arguments(tool, rng, n), KEY),
        }
        which = n % 3
        batch[which].append(fields)
        if len(batch[which]) >= 1000:
            writers[which].write(batch[which])
            batch[which] = []
    for writer, rest in zip(writers, batch, strict=True):
        writer.write(rest)
        writer.close()
    seconds = time.perf_counter() - started
    size = sum(file.stat().st_size for file in directory.iterdir())
    return seconds, size


def timed(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The median seconds of `repeat` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _cli(*args: str) -> Callable[[], int]:
    command = [sys.executable, "-m", "callgate", "audit", *args]

    def run() -> int:
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
        return done.returncode

    return run


def main() -> int:
    """Build the log, time verify and query, print the table; 1 when a target is missed."""
    parser = argparse.ArgumentParser(description="callgate audit log benchmark")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the log here and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="callgate-audit-bench-"))
    directory = args.keep or scratch / "audit"
    key_file = scratch / "audit.key"
    key_file.write_text(KEY.hex())
    try:
        built, size = build_log(directory, args.records)
        files = len(list(directory.glob("*.jsonl")))
        rare = RecordFilter(values={"tool": ["delete_record"], "decision": ["deny"]})
        middle = START + args.records * 0.05 / 2
        window = RecordFilter(since=format_time(middle), until=format_time(middle + 3600))
        rows: list[tuple[str, float, object, float | None]] = []

        def verify() -> object:
            result = verify_directory(directory, KEY)
            assert result.intact, [r.finding for r in result.reports]
            return sum(report.records for report in result.reports)

        seconds, checked = timed(verify, args.repeat)
        rows.append(("verify", seconds, f"{checked:,} records intact", TARGET_VERIFY_S))
        seconds, found = timed(lambda: sum(1 for _ in query(directory, rare)), args.repeat)
        rows.append(("query --tool --decision", seconds, f"{found:,} matches", TARGET_QUERY_S))
        seconds, found = timed(lambda: sum(1 for _ in query(directory, window)), args.repeat)
        rows.append(("query --since --until (1 h)", seconds, f"{found:,} matches", None))
        verify_cli = _cli("verify", "--audit", str(directory), "--key", str(key_file))
        seconds, status = timed(verify_cli, args.repeat)
        rows.append(("callgate audit verify", seconds, f"exit {status}", TARGET_VERIFY_S))
        query_cli = _cli(
            "query",
            "--audit",
            str(directory),
            *("--tool", "delete_record", "--decision", "deny", "--format", "json"),
        )
        seconds, status = timed(query_cli, args.repeat)
        rows.append(("callgate audit query (json)", seconds, f"exit {status}", TARGET_QUERY_S))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"\naudit log: {args.records:,} records, {files} files, {size / 2**20:,.0f} MiB, "
        f"3 writers; built in {built:.1f} s ({built / args.records * 1e6:.1f} µs a record "
        f"on the writer thread: redact, hash arguments, chain, write)"
    )
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; median of {args.repeat}\n"
    )
    print(f"{'what':<30} {'seconds':>8}  {'target':<14}  result")
    met = True
    for name, seconds, result, target in rows:
        verdict = ""
        if target is not None:
            ok = seconds < target
            met = met and ok
            verdict = f"< {target:g} s {'met' if ok else 'MISSED'}"
        print(f"{name:<30} {seconds:>8.2f}  {verdict:<14}  {result}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "records": args.records,
                    "files": files,
                    "bytes": size,
                    "build_seconds": built,
                    "rows": [
                        {"what": n, "seconds": s, "result": str(r), "target": t}
                        for n, s, r, t in rows
                    ],
                },
                indent=2,
            )
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
