"""How fast the operator console's pages load over a large log and a full inbox.

    .venv/bin/python bench/console.py [--records N] [--pending N] [--repeat N] [--json FILE]

Builds an audit directory of N chained records (default 10,000, three writers, the
arguments redacted as the default policy does) under a fresh install key, and an SQLite
state file with `--pending` requests waiting for approval (default 100). Starts a real
`callgate console` process over them, logs in over HTTP, and times each page `--repeat`
times (median and worst printed). Target (issue 14): every page under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import httpx2

from callgate.approvals.model import ApprovalRequest, Mode
from callgate.audit.record import build_event, with_time
from callgate.audit.redaction import DEFAULT_RECORDING
from callgate.audit.sink import ChainWriter, load_install_key
from callgate.state.approvals_sqlite import SqliteApprovalStore

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 200.0
TOKEN = "bench-admin-token"
TOOLS = ("read_record", "write_record", "run_command", "delete_record", "issue_refund")
DECISIONS = ["allow"] * 90 + ["deny"] * 6 + ["rate_limited"] * 3 + ["would_deny"]
PAGES = (
    ("approvals", "/approvals"),
    ("decisions", "/decisions"),
    ("decisions ?decision=deny", "/decisions?decision=deny"),
    ("tools", "/tools"),
    ("limits", "/limits"),
    ("audit search tool", "/audit?tool=delete_record"),
    ("audit verify", "/audit/verify"),
    ("policy", "/policy"),
)


def build_log(directory: Path, key: bytes, records: int, now: float) -> None:
    """`records` decisions from three writers, the last one just before `now`."""
    rng = random.Random(14)
    writers = [ChainWriter(directory, key, writer=f"bench-w{i}") for i in range(3)]
    batches: list[list[dict[str, Any]]] = [[], [], []]
    for n in range(records):
        tool = TOOLS[rng.randrange(len(TOOLS))]
        decision = DECISIONS[rng.randrange(len(DECISIONS))]
        event = build_event(
            now=now - (records - n) * 0.5,
            server="callgate.demo.server",
            session=f"agent-{n % 7}/s{n // 400}",
            agent=f"agent-{n % 7}",
            method="tools/call",
            tool=tool,
            decision=decision,
            rule=None if decision == "allow" else f"{tool}-rule",
            reason="" if decision == "allow" else "refused by the policy",
        )
        arguments = {"record_id": f"r-{n}", "note": "x" * rng.randrange(10, 300)}
        batches[n % 3].append({**with_time(event, now), **DEFAULT_RECORDING.fields(arguments, key)})
    for writer, batch in zip(writers, batches, strict=True):
        writer.write(batch)
        writer.close()


async def fill_inbox(path: Path, pending: int, now: float) -> None:
    """`pending` requests waiting, from a handful of agents."""
    store = SqliteApprovalStore(path)
    try:
        for n in range(pending):
            await store.create(
                ApprovalRequest(
                    id=f"ap_bench{n:05d}",
                    fingerprint=f"{n:064x}",
                    server="callgate.demo.server",
                    tool="issue_refund",
                    arguments={"order_id": f"o-{n}", "amount": 100 + n, "note": "y" * 400},
                    agent=f"agent-{n % 7}",
                    session=f"agent-{n % 7}/s1",
                    rule="refunds-over-100",
                    category="financial",
                    mode=Mode.WAIT,
                    created_at=now - n,
                    expires_at=now + 3600,
                )
            )
    finally:
        await store.aclose()


async def measure(base: str, repeat: int) -> list[tuple[str, float, float, int]]:
    """Log in, then time every page; (name, median ms, worst ms, bytes)."""
    async with httpx2.AsyncClient(timeout=30) as http:
        form = await http.get(f"{base}/login")
        match = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert match is not None
        login = await http.post(
            f"{base}/login", data={"csrf": match.group(1), "name": "bench", "token": TOKEN}
        )
        assert login.status_code == 303, login.text
        rows = []
        for name, path in PAGES:
            times = []
            size = 0
            for _ in range(repeat):
                started = time.perf_counter()
                answer = await http.get(f"{base}{path}")
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
                size = len(answer.content)
            rows.append((name, statistics.median(times), max(times), size))
        return rows


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("callgate console exited before listening")
        try:
            httpx2.get(f"http://127.0.0.1:{port}/console/login", timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.05)
    raise SystemExit("callgate console did not start")


def main() -> int:
    """Build the data, serve it, time the pages, print the table; 1 when a page is slow."""
    parser = argparse.ArgumentParser(description="callgate console benchmark")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--pending", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callgate-console-bench-") as scratch:
        root = Path(scratch)
        data = root / "data"
        key = load_install_key(data / "callgate" / "audit.key")
        now = time.time()
        build_log(root / "audit", key, args.records, now)
        anyio.run(fill_inbox, root / "state.db", args.pending, now)
        policy = root / "policy.yaml"
        policy.write_text((resources.files("callgate.demo") / "policy.yaml").read_text())
        port = _free_port()
        env = {**os.environ, "XDG_DATA_HOME": str(data), "BENCH_TOKEN": TOKEN}
        command = [
            sys.executable, "-m", "callgate", "console", "-c", str(policy),
            "--state", f"sqlite:///{root / 'state.db'}", "--audit", str(root / "audit"),
            "--listen", f"127.0.0.1:{port}", "--admin-token-env", "BENCH_TOKEN",
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, process)
            rows = anyio.run(measure, f"http://127.0.0.1:{port}/console", args.repeat)
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(
        f"callgate console: {args.records:,} audit records, {args.pending} pending approvals, "
        f"{args.repeat} loads per page (target < {TARGET_MS:.0f} ms)"
    )
    print(f"{'page':<26} {'median ms':>10} {'worst ms':>10} {'KiB':>8}  ")
    slow = False
    for name, median, worst, size in rows:
        mark = "ok" if median < TARGET_MS else "SLOW"
        slow = slow or median >= TARGET_MS
        print(f"{name:<26} {median:>10.1f} {worst:>10.1f} {size / 1024:>8.1f}  {mark}")
    if args.json:
        figures = [{"page": n, "median_ms": m, "worst_ms": w, "bytes": b} for n, m, w, b in rows]
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if slow else 0


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
