"""What a rate-limited `tools/call` costs through `callgate run`, per counter backend.

    .venv/bin/python bench/limits.py [--calls N] [--warmup N] [--json FILE]

The official SDK client times sequential `echo` calls over stdio on seven paths, round
by round (each round calls every path once, in a rotating order, so machine noise falls
on all of them alike):

    direct          client -> upstream (an SDK MCPServer)
    memory          client -> `callgate run --state memory://` -> upstream
    sqlite          client -> `callgate run --state sqlite:///...` -> upstream (WAL file)
    redis           client -> `callgate run --state redis://127.0.0.1:PORT/0` -> upstream
    *+cap           the same three with a spend cap: a `state` counter summing
                    `args.amount` that a condition reads (`lte`, checked after the charge)

Every call is charged against three sliding rate limits (session, agent and global
scope) that never fire, so each decision reserves and commits three counters. Printed:
p50 and p99 per path, what each adds over direct, and what SQLite and Redis add over
memory (medians of the per-round differences). Then the Redis round trips per call,
measured twice: EVALSHA calls from `INFO commandstats` (scripts cannot call EVALSHA, so
each is a client's round trip), and every command a client sent, seen with MONITOR and
split into the decision (before the call is forwarded), the settlement (the commit
after the server answered) and anything else (a new pooled connection's handshake).
Counted for the rate limits alone, for the spend cap, and for the spend cap with two
callgate processes charging it in turn (each judges from the last value it saw, which
the other keeps moving). Targets: Redis at most one round trip per decision; SQLite adds
at most 0.2 ms p50 over memory.

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
      - name: daily-spend-cap
        conditions:
          - {path: state.echo.spent, op: lte, value: 1000000000}
        state: {counter: spent, window: day, increment_from: args.amount}
"""
)
"""The same limits plus a spend cap (far above what the run spends: it never fires)."""

AMOUNT = "0.25"
"""What each call spends on the `+cap` paths (an exact decimal)."""


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
                arguments = echo_arguments(index, capped=name.endswith("+cap"))
                started = time.perf_counter_ns()
                result = await client.call_tool("echo", arguments)
                elapsed = (time.perf_counter_ns() - started) / 1e6
                if result.is_error:
                    raise SystemExit(f"echo failed through {name}: {result.content}")
                if index >= warmup:
                    timings[name].append(elapsed)
    return timings


def echo_arguments(index: int, *, capped: bool) -> dict[str, str]:
    """The `echo` call's arguments; with an amount to spend on the spend-capped paths."""
    arguments = {"message": f"call {index}"}
    if capped:
        arguments["amount"] = AMOUNT
    return arguments


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
    server: RedisServer, commands: Sequence[list[str]], calls: int, *, capped: bool
) -> dict[str, float]:
    """Redis round trips per call of `callgate run`s on Redis, called in turn.

    `evalsha` comes from `INFO commandstats`; `decision` and `settlement` from MONITOR
    (commands run inside a script are no round trip and are not counted).
    """
    decision = settlement = other = 0
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(connected(command, "legacy")) for command in commands
        ]
        for client in clients:  # connects to Redis, loads the scripts
            await client.call_tool("echo", echo_arguments(0, capped=capped))
        watcher = redis.asyncio.Redis(host=server.host, port=server.port)
        marker = redis.asyncio.Redis(host=server.host, port=server.port)
        stack.push_async_callback(watcher.aclose)
        stack.push_async_callback(marker.aclose)
        evalsha_before = await evalsha_calls(marker)
        async with watcher.monitor() as monitor:
            for index in range(calls):
                client = clients[index % len(clients)]
                result = await client.call_tool("echo", echo_arguments(index, capped=capped))
                if result.is_error:
                    raise SystemExit(f"echo failed while counting: {result.content}")
            await marker.echo("bench-end")
            while True:
                seen = await monitor.next_command()
                text = seen["command"]
                if "bench-end" in text:
                    break
                if seen["client_type"] == "lua" or text.startswith("INFO"):
                    continue  # run inside a script, or this bench asking
                if text.startswith(("EVALSHA", "EVAL ")):
                    decision += 1  # guards and charges of the call in one script call
                elif text.startswith("DEL "):
                    settlement += 1  # the commit once the server answered
                else:
                    other += 1  # a new pooled connection's handshake (HELLO, CLIENT ...)
        evalsha = await evalsha_calls(marker) - evalsha_before
    return {
        "evalsha": evalsha / calls,
        "decision": decision / calls,
        "settlement": settlement / calls,
        "other": other / calls,
    }


async def evalsha_calls(client: redis.asyncio.Redis) -> int:
    """EVALSHA calls the server has run so far (`INFO commandstats`)."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def count_trips(
    server: RedisServer, commands: list[list[str]], capped: bool
) -> dict[str, float]:
    """Round trips per call over 200 calls (see `redis_commands_per_call`)."""
    return await redis_commands_per_call(server, commands, 200, capped=capped)


def print_table(rows: list[Row], trips: dict[str, dict[str, float]], calls: int) -> bool:
    """The table and the targets; True when every target is met."""
    print(f"\nrate-limited tools/call through callgate run (stdio), {calls} calls per path")
    print("each call reserves + commits 3 sliding limits (session, agent, global scope);")
    print(f"+cap: and spends {AMOUNT} against a spend cap a condition reads\n")
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
    redis_ok = all(
        max(counted["decision"], counted["evalsha"]) <= TARGET_REDIS_DECISION_TRIPS
        for counted in trips.values()
    )
    print()
    for name, counted in trips.items():
        print(
            f"Redis round trips per call ({name}): {counted['decision']:g} to decide"
            f" + {counted['settlement']:g} to settle + {counted['other']:g} other"
            f" (commandstats: {counted['evalsha']:g} EVALSHA per call)"
        )
    print(
        f"target <= {TARGET_REDIS_DECISION_TRIPS:g} round trip per decision: "
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
            limits = [callgate(work, server.url(db=7), "m1")]
            capped = [callgate(work, server.url(db=8), "m2", "capped.yaml")]
            fleet = [callgate(work, server.url(db=9), f"m{n}", "capped.yaml") for n in (3, 4)]
            trips = {
                "limits": anyio.run(count_trips, server, limits, False),
                "limits+cap": anyio.run(count_trips, server, capped, True),
                "limits+cap, 2 instances": anyio.run(count_trips, server, fleet, True),
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
