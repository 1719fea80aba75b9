"""Counter-store latency: reserve + commit on memory, SQLite and Redis (loopback).

    .venv/bin/python bench/state.py [--decisions N]

Each decision reserves what a rate-limited, spend-capped call reserves (one sliding
rate-limit charge and one calendar spend charge, guarded by a spend cap's range) and
commits it. Two loads: a typical limit (100/minute, ~100 events in the window) and a heavy
one (10,000/minute, ~10,000 events in the window), and SQLite once more while a second
process writes to the same file non-stop. Time is a fake clock, so windows fill as
they would in production. Starts its own redis-server (Debian's, see .ci/install-redis.sh)
on a free loopback port, and counts the Redis commands a decision sends with MONITOR.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fixtures.redis, the redis-server launcher

import redis.asyncio  # noqa: E402
from tests.fixtures.redis import RedisServer  # noqa: E402

from callgate.state.counters import (  # noqa: E402
    Charge,
    CounterKey,
    Guard,
    Scope,
    Window,
    WindowKind,
)
from callgate.state.memory import MemoryStore  # noqa: E402
from callgate.state.redis import RedisStore  # noqa: E402
from callgate.state.sqlite import SqliteStore  # noqa: E402
from callgate.state.store import CounterStore, Reservation  # noqa: E402

START = 1_790_000_000.0


@dataclass(frozen=True)
class Load:
    """A rate limit and the spacing of calls (fake seconds) that keeps it just under."""

    name: str
    limit: int
    spacing: float


LOADS = [Load("100/min", 100, 0.61), Load("10k/min", 10_000, 0.0061)]


def decision_charges(limit: int) -> tuple[list[Charge], CounterKey]:
    rate = CounterKey("github", Scope.SESSION, "s1", "rate:r", Window(WindowKind.SLIDING, 60))
    spend = CounterKey("stripe", Scope.GLOBAL, "*", "spend", Window(WindowKind.CALENDAR, 86_400))
    charges = [
        Charge(rate, Decimal(1), rule="r", limit=limit),
        Charge(spend, Decimal("0.25"), rule="spend"),
    ]
    return charges, spend


async def measure(store: CounterStore, load: Load, decisions: int, warmup: int) -> list[float]:
    """Microseconds per reserve + commit, one sample per decision after the warm-up ones."""
    charges, spend = decision_charges(load.limit)
    samples = []
    # A spend cap far above what the run charges: the guard always holds.
    guards = {spend: Guard().below(Decimal(10**9), inclusive=True)}
    for index in range(warmup + decisions):
        now = START + index * load.spacing
        began = time.perf_counter()
        result = await store.reserve(charges, guards, now)
        if not isinstance(result, Reservation):
            raise SystemExit(f"bench decision {index} was refused: {result}")
        await store.commit(result, now)
        samples.append((time.perf_counter() - began) * 1e6)
    return samples[warmup:]


# A second process reserving and committing on the same SQLite file as fast as it can.
NEIGHBOUR = """
import sys, anyio
from decimal import Decimal
from callgate.state.counters import Charge, CounterKey, Scope, Window, WindowKind
from callgate.state.sqlite import SqliteStore

async def main() -> None:
    store = SqliteStore(sys.argv[1])
    key = CounterKey("other", Scope.GLOBAL, "*", "rate:n", Window(WindowKind.SLIDING, 60))
    charge = Charge(key, Decimal(1), rule="n", limit=10**9)
    print("ready", flush=True)
    index = 0
    while True:
        index += 1
        now = 1_790_000_000.0 + index * 0.001
        await store.commit(await store.reserve([charge], {}, now), now)

anyio.run(main)
"""


async def measure_with_neighbour(path: Path, load: Load, decisions: int) -> list[float]:
    """Reserve + commit latency while another process writes to the same file non-stop."""
    SqliteStore(path)  # the schema exists before either side starts
    neighbour = await asyncio.create_subprocess_exec(
        sys.executable, "-c", NEIGHBOUR, str(path), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert neighbour.stdout is not None
        if (await neighbour.stdout.readline()).strip() != b"ready":
            raise SystemExit("the neighbour process did not start")
        store = SqliteStore(path)
        samples = await measure(store, load, decisions, warmup=500)
        await store.aclose()
    finally:
        neighbour.kill()
        await neighbour.wait()
    return samples


async def redis_commands_per_decision(server: RedisServer, decisions: int) -> float:
    """Commands the store sends per decision, counted by the server's MONITOR."""
    store = RedisStore(server.url())
    charges, _ = decision_charges(1_000_000)
    now = START + 10_000_000
    warmup = await store.reserve(charges, {}, now)
    assert isinstance(warmup, Reservation)
    await store.commit(warmup, now)
    watcher = redis.asyncio.Redis(host=server.host, port=server.port)
    marker = redis.asyncio.Redis(host=server.host, port=server.port)
    await marker.ping()
    sent = 0
    async with watcher.monitor() as monitor:
        for _ in range(decisions):
            result = await store.reserve(charges, {}, now)
            assert isinstance(result, Reservation)
            await store.commit(result, now)
        await marker.echo("bench-end")
        while True:
            command = await monitor.next_command()
            if "bench-end" in command["command"]:
                break
            sent += command["client_type"] != "lua"
    for client in (watcher, marker):
        await client.aclose()
    await store.aclose()
    return sent / decisions


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=5_000)
    decisions = parser.parse_args().decisions
    with tempfile.TemporaryDirectory(prefix="callgate-bench-") as directory:
        server = RedisServer(Path(directory) / "redis")
        server.directory.mkdir()
        server.start()
        try:
            openers: dict[str, Callable[[str], CounterStore]] = {
                "memory": lambda _: MemoryStore(),
                "sqlite": lambda name: SqliteStore(Path(directory) / f"{name}.db"),
                "redis": lambda name: RedisStore(server.url(db=len(name) % 16)),
            }
            print(f"reserve + commit, {decisions} decisions each (µs)")
            print(f"{'backend':<8} {'load':<8} {'p50':>8} {'p99':>8} {'mean':>8}")
            for load in LOADS:
                for backend, opener in openers.items():
                    server.flush()
                    store = opener(load.name.replace("/", "-"))
                    samples = await measure(store, load, decisions, warmup=500)
                    await store.aclose()
                    print(
                        f"{backend:<8} {load.name:<8} {percentile(samples, 0.5):>8.1f}"
                        f" {percentile(samples, 0.99):>8.1f} {statistics.fmean(samples):>8.1f}"
                    )
            shared = Path(directory) / "shared.db"
            samples = await measure_with_neighbour(shared, LOADS[0], decisions)
            print(
                f"{'sqlite':<8} {'+1 proc':<8} {percentile(samples, 0.5):>8.1f}"
                f" {percentile(samples, 0.99):>8.1f} {statistics.fmean(samples):>8.1f}"
            )
            server.flush()
            per_decision = await redis_commands_per_decision(server, 200)
            print(f"redis round trips per decision: {per_decision:g} (reserve 1 + commit 1)")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
