"""What a rate-limited `tools/call` costs through `callgate run`, per counter backend.

    .venv/bin/python bench/limits.py [--calls N] [--warmup N] [--json FILE]

The official SDK client times sequential `echo` calls over stdio on seven paths, round
by round (each round calls every path once, in a rotating order, so machine noise falls
on all of them alike):

    direct          client -> upstream (an SDK MCPServer)
    memory          client -> `callgate run --state memory://` -> upstream
    sqlite          client -> `callgate run --state sqlite:///...` -> upstream (WAL file)
    redis           client -> `callgate run --state redis://127.0.0.1:PORT/0` -> upstream
    *+cap           the same three with a `state` counter a condition reads (a spend cap)

Every call is charged against three sliding rate limits (session, agent and global
scope) that never fire, so each decision reserves and commits three counters. Printed:
p50 and p99 per path, what each adds over direct, and what SQLite and Redis add over
memory (medians of the per-round differences). Then the Redis commands callgate sends per
call, counted with MONITOR and split into the decision (before the call is forwarded:
a counter read when a condition reads one, and the reservation of every charge in one
script call) and the settlement (the commit after the server answered). Targets: Redis
at most one round trip per rate-limit decision; SQLite adds at most 0.2 ms p50 over
memory.

Starts its own redis-server (Debian's; see .ci/install-redis.sh) on a free loopback port.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import redis.asyncio

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fixtures.redis, the redis-server launcher
sys.path.insert(0, str(HERE.parent))  # for proxy.py, the upstream and the SDK client

from tests.fixtures.redis import RedisServer  # noqa: E402

from proxy import connected  # noqa: E402

PYTHON = sys.executable
UPSTREAM = [PYTHON, str(HERE.parent / "proxy.py"), "upstream", "--stdio"]
TARGET_SQLITE_EXTRA_MS = 0.2
TARGET_REDIS_DECISION_TRIPS = 1.0

POLICY = """\
version: "1"
tools:
  echo:
    rules:
      - name: per-session
        rate_limit: {max: 1000000, window: hour}
      - name: per-agent
        rate_limit: {max: 1000000, window: hour, scope: agent}
      - name: fleet
        rate_limit: {max: 1000000, window: hour, scope: global}
"""

CAPPED = (
    POLICY
    + """\
      - name: daily-cap
        conditions:
          - {path: state.echo.calls, op: lte, value: 1000000000}
        state: {counter: calls, window: day}
"""
)
"""The same limits plus a `state` counter a condition reads (a spend cap's shape)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One path, timed (milliseconds)."""

    path: str
    p50_ms: float
    p99_ms: float
    added_p50_ms: float
    extra_vs_memory_ms: float | None


def callgate(work: Path, state: str, name: str, policy: str = "policy.yaml") -> list[str]:
    """`callgate run` with a policy of `work` on `state`, in front of the upstream."""
    return [
        *(PYTHON, "-m", "callgate", "run", "-c", str(work / policy), "--state", state),
        *("--audit", str(work / f"{name}-audit.jsonl"), "--", *UPSTREAM),
    ]


async def time_rounds(
    paths: dict[str, list[str]], calls: int, warmup: int
) -> dict[str, list[float]]:
    """Milliseconds per call on every path, one call per path per round."""
    timings: dict[str, list[float]] = {name: [] for name in paths}
    async with AsyncExitStack() as stack:
        clients = [
            (name, await stack.enter_async_context(connected(command, "legacy")))
            for name, command in paths.items()
        ]
        for index in range(warmup + calls):
            shift = index % len(clients)
            for name, client in clients[shift:] + clients[:shift]:
                started = time.perf_counter_ns()
                result = await client.call_tool("echo", {"message": f"call {index}"})
                elapsed = (time.perf_counter_ns() - started) / 1e6
                if result.is_error:
                    raise SystemExit(f"echo failed through {name}: {result.content}")
                if index >= warmup:
                    timings[name].append(elapsed)
    return timings


def paired_median(series: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of round-by-round differences (cancels noise that comes and goes)."""
    return statistics.median(a - b for a, b in zip(series, baseline, strict=True))


def summarise(timings: dict[str, list[float]]) -> list[Row]:
    """p50/p99 per path, added over direct, extra over memory."""
    rows = []
    for name, series in timings.items():
        ordered = sorted(series)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        memory = "memory+cap" if name.endswith("+cap") else "memory"
        extra = None if name in ("direct", memory) else paired_median(series, timings[memory])
        rows.append(
            Row(
                name,
                statistics.median(ordered),
                p99,
                paired_median(series, timings["direct"]),
                extra,
            )
        )
    return rows


async def redis_commands_per_call(
    server: RedisServer, command: list[str], calls: int
) -> dict[str, float]:
    """Commands a `callgate run` on Redis sends per call, by phase, counted with MONITOR."""
    decision = settlement = 0
    async with connected(command, "legacy") as client:
        await client.call_tool("echo", {"message": "warm up"})  # loads the scripts
        watcher = redis.asyncio.Redis(host=server.host, port=server.port)
        marker = redis.asyncio.Redis(host=server.host, port=server.port)
        await marker.ping()
        try:
            async with watcher.monitor() as monitor:
                for index in range(calls):
                    await client.call_tool("echo", {"message": f"call {index}"})
                await marker.echo("bench-end")
                while True:
                    seen = await monitor.next_command()
                    text = seen["command"]
                    if "bench-end" in text:
                        break
                    if seen["client_type"] == "lua":
                        continue  # run inside a script: no round trip of its own
                    if text.startswith(("EVALSHA", "EVAL ")):
                        decision += 1  # a counter read, or the reservation of every charge
                    else:
                        settlement += 1  # the commit once the server answered
        finally:
            for connection in (watcher, marker):
                await connection.aclose()
    return {"decision": decision / calls, "settlement": settlement / calls}


def print_table(rows: list[Row], trips: dict[str, dict[str, float]], calls: int) -> bool:
    """The table and the targets; True when every target is met."""
    print(f"\nrate-limited tools/call through callgate run (stdio), {calls} calls per path")
    print("each call reserves + commits 3 sliding limits (session, agent, global scope);")
    print("+cap: and a `state` counter that a condition reads (a spend cap's shape)\n")
    print(f"{'path':<11} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'vs memory':>10}")
    for row in rows:
        extra = "" if row.extra_vs_memory_ms is None else f"{row.extra_vs_memory_ms:+.3f}"
        print(
            f"{row.path:<11} {row.p50_ms:>8.3f} {row.p99_ms:>8.3f}"
            f" {row.added_p50_ms:>+10.3f} {extra:>10}"
        )
    by_path = {row.path: row for row in rows}
    sqlite_extra = by_path["sqlite"].extra_vs_memory_ms or 0.0
    sqlite_ok = sqlite_extra <= TARGET_SQLITE_EXTRA_MS
    redis_ok = trips["limits"]["decision"] <= TARGET_REDIS_DECISION_TRIPS
    print()
    for name, counted in trips.items():
        print(
            f"Redis round trips per call ({name}): {counted['decision']:g} to decide"
            f" + {counted['settlement']:g} to settle"
        )
    print(
        f"target <= {TARGET_REDIS_DECISION_TRIPS:g} round trip per rate-limit decision: "
        f"{'met' if redis_ok else 'MISSED'}"
    )
    print(
        f"SQLite extra p50 over memory: {sqlite_extra:+.3f} ms"
        f"   target <= {TARGET_SQLITE_EXTRA_MS} ms: {'met' if sqlite_ok else 'MISSED'}"
    )
    return sqlite_ok and redis_ok


def main() -> None:
    """Start Redis, time every path, count Redis commands, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callgate-bench-") as tmp:
        work = Path(tmp)
        (work / "policy.yaml").write_text(POLICY)
        (work / "capped.yaml").write_text(CAPPED)
        server = RedisServer(work / "redis")
        server.directory.mkdir()
        server.start()
        try:
            paths = {"direct": UPSTREAM}
            for suffix, policy in (("", "policy.yaml"), ("+cap", "capped.yaml")):
                stores = {
                    "memory": "memory://",
                    "sqlite": f"sqlite:///{work / f'state{len(suffix)}.db'}",
                    "redis": server.url(db=len(suffix)),
                }
                for store, url in stores.items():
                    paths[store + suffix] = callgate(work, url, store + suffix, policy)
            timings = anyio.run(time_rounds, paths, args.calls, args.warmup)
            trips = {
                "limits": anyio.run(
                    redis_commands_per_call, server, callgate(work, server.url(db=8), "m1"), 200
                ),
                "limits+cap": anyio.run(
                    redis_commands_per_call,
                    server,
                    callgate(work, server.url(db=9), "m2", "capped.yaml"),
                    200,
                ),
            }
        finally:
            server.stop()
    rows = summarise(timings)
    met = print_table(rows, trips, args.calls)
    if args.json:
        summary: dict[str, Any] = {
            "calls": args.calls,
            "rows": [asdict(row) for row in rows],
            "redis_round_trips_per_call": trips,
            "targets_met": met,
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
