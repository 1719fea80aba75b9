"""SqliteStore beyond the contract: two processes on one file, lock waits, bounded file."""

from __future__ import annotations

import sqlite3
import sys
import threading
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from callgate.state.counters import Charge, CounterKey, Scope, Window, WindowKind
from callgate.state.sqlite import SWEEP_EVERY, SqliteStore, use_wal
from callgate.state.store import Rejection, Reservation, StoreUnavailable

pytestmark = pytest.mark.anyio

NOW = 1_790_000_000.0
KEY = CounterKey("github", Scope.GLOBAL, "*", "rate:fleet", Window(WindowKind.SLIDING, 60))
CHARGE = Charge(KEY, Decimal(1), rule="fleet", limit=50)

# Each worker opens the file, says "ready", waits for "go", then makes its attempts.
WORKER = """
import sys
import threading
from decimal import Decimal
import anyio
from callgate.state.counters import Charge, CounterKey, Scope, Window, WindowKind
from callgate.state.sqlite import SWEEP_EVERY, SqliteStore, use_wal
from callgate.state.store import Reservation

async def main() -> None:
    store = SqliteStore(sys.argv[1])
    key = CounterKey("github", Scope.GLOBAL, "*", "rate:fleet", Window(WindowKind.SLIDING, 60))
    charge = Charge(key, Decimal(1), rule="fleet", limit=int(sys.argv[4]))
    print("ready", flush=True)
    sys.stdin.readline()
    allowed = 0
    for attempt in range(int(sys.argv[3])):
        result = await store.reserve([charge], {}, float(sys.argv[2]) + attempt * 0.001)
        allowed += isinstance(result, Reservation)
    await store.aclose()
    print(allowed, flush=True)

anyio.run(main)
"""


async def read_line(stream: BufferedByteReceiveStream) -> str:
    return (await stream.receive_until(b"\n", 1024)).decode()


@pytest.mark.parametrize(("attempts", "limit"), [(100, 50), (1_000, 500)])
async def test_two_processes_on_one_file_enforce_one_limit_exactly(
    tmp_path: Path, attempts: int, limit: int
) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path)  # create the schema before the race
    processes: list[Process] = []
    try:
        with anyio.fail_after(60):
            for _ in range(2):
                command = [sys.executable, "-c", WORKER, str(path), repr(NOW)]
                command += [str(attempts), str(limit)]
                processes.append(await anyio.open_process(command))
            outputs = [BufferedByteReceiveStream(p.stdout) for p in processes if p.stdout]
            assert [await read_line(out) for out in outputs] == ["ready", "ready"]
            for process in processes:
                assert process.stdin is not None
                await process.stdin.send(b"go\n")
            allowed = [int(await read_line(out)) for out in outputs]
            assert [await process.wait() for process in processes] == [0, 0]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.aclose()
    assert sum(allowed) == limit
    store = SqliteStore(path)
    assert (await store.read([KEY], NOW + 2))[KEY] == limit
    await store.aclose()


async def test_reserve_waits_off_the_loop_while_another_connection_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    finished = anyio.Event()
    results: list[Reservation | Rejection] = []

    async def reserve() -> None:
        results.append(await store.reserve([CHARGE], {}, NOW))
        finished.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reserve)
            # The loop still runs while the reservation waits for the lock.
            await anyio.wait_all_tasks_blocked()
            assert not finished.is_set()
            blocker.execute("COMMIT")
            await finished.wait()
    blocker.close()
    assert isinstance(results[0], Reservation)
    await store.aclose()


async def test_lock_held_past_the_busy_timeout_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with anyio.fail_after(10), pytest.raises(StoreUnavailable, match=r"state\.db.*locked"):
            await store.reserve([CHARGE], {}, NOW)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert isinstance(await store.reserve([CHARGE], {}, NOW), Reservation)
    await store.aclose()


async def test_unwritable_location_is_store_unavailable(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(StoreUnavailable, match="cannot open SQLite state file"):
        SqliteStore(blocked / "state.db")


async def test_file_that_is_not_a_database_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailable, match="cannot open SQLite state file"):
        SqliteStore(path)


async def test_expired_rows_are_pruned_as_time_passes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    spend = CounterKey("stripe", Scope.GLOBAL, "*", "spend", Window(WindowKind.CALENDAR, 3_600))
    idle = CounterKey("github", Scope.SESSION, "gone", "rate:fleet", Window(WindowKind.SLIDING, 60))
    for _ in range(10):
        await store.reserve([Charge(idle, Decimal(1), rule="fleet", limit=50)], {}, NOW)
    for second in range(0, 3 * 3_600, 10):
        charges = [CHARGE, Charge(spend, Decimal("0.5"), rule="spend")]
        reservation = await store.reserve(charges, {}, NOW + second)
        assert isinstance(reservation, Reservation)
        if second % 20:
            await store.commit(reservation, NOW + second)
    await store.aclose()
    with sqlite3.connect(path) as connection:
        events = connection.execute("SELECT key, count(*) FROM events GROUP BY key").fetchall()
        buckets = connection.execute("SELECT count(*) FROM buckets").fetchone()[0]
    connection.close()
    # One window's worth of events (one every 10 s) and the current bucket; the idle
    # session's events were swept.
    assert events == [(KEY.render(), 6)]
    assert buckets == 1


async def test_settled_and_unsettled_reservations_do_not_pile_up(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    for second in range(0, 3_600, 5):
        reservation = await store.reserve([CHARGE], {}, NOW + second)
        assert isinstance(reservation, Reservation)
        if second % 10:
            await store.rollback(reservation, NOW + second)
    # Unsettled reservations are forgotten once what they added has expired.
    assert len(store._pending) <= 60 // 10 + SWEEP_EVERY
    await store.aclose()


def prepare_file(path: Path, script: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.executescript(script)
    connection.close()


@pytest.mark.parametrize(
    "old_layout",
    [
        "CREATE TABLE pending (x); CREATE TABLE events (y);",
        "CREATE TABLE counter_schema (version); INSERT INTO counter_schema VALUES (2);"
        " CREATE TABLE events (key, stamp, id, amount, units, expires);",
    ],
)
async def test_pre_release_schema_is_replaced(tmp_path: Path, old_layout: str) -> None:
    path = tmp_path / "state.db"
    prepare_file(path, old_layout)
    store = SqliteStore(path)
    assert isinstance(await store.reserve([CHARGE], {}, NOW), Reservation)
    await store.aclose()


async def test_other_tables_in_the_file_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    prepare_file(path, "CREATE TABLE approvals (id); INSERT INTO approvals VALUES (7);")
    await SqliteStore(path).aclose()
    await SqliteStore(path).aclose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT id FROM approvals").fetchall() == [(7,)]
    connection.close()


async def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    prepare_file(
        path, "CREATE TABLE counter_schema (version); INSERT INTO counter_schema VALUES (99);"
    )
    with pytest.raises(StoreUnavailable, match="counter schema version 99"):
        SqliteStore(path)


async def test_concurrent_rollbacks_of_one_reservation_undo_it_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    spend = CounterKey("stripe", Scope.GLOBAL, "*", "spend", Window(WindowKind.CALENDAR, 3_600))
    kept = await store.reserve([Charge(spend, Decimal("5"), rule="spend")], {}, NOW)
    undone = await store.reserve([Charge(spend, Decimal("2"), rule="spend"), CHARGE], {}, NOW)
    assert isinstance(kept, Reservation)
    assert isinstance(undone, Reservation)
    # Another connection holds the write lock, so both rollbacks wait in worker threads.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(store.rollback, undone, NOW)
            tasks.start_soon(store.rollback, undone, NOW)
            await anyio.wait_all_tasks_blocked()
            blocker.execute("COMMIT")
    blocker.close()
    assert await store.read([spend, KEY], NOW) == {spend: 5, KEY: 0}
    await store.aclose()


async def test_a_rollback_that_failed_can_be_retried(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, busy_timeout=0.05)
    undone = await store.reserve([CHARGE], {}, NOW)
    assert isinstance(undone, Reservation)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with anyio.fail_after(10), pytest.raises(StoreUnavailable):
        await store.rollback(undone, NOW)
    blocker.execute("ROLLBACK")
    blocker.close()
    await store.rollback(undone, NOW)
    assert (await store.read([KEY], NOW))[KEY] == 0
    await store.aclose()


def test_wal_mode_waits_for_a_connection_that_holds_the_file(tmp_path: Path) -> None:
    # SQLite answers "database is locked" at once to a journal-mode switch it cannot make
    # (no busy handler): a second proxy opening the same new file got it and died.
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        opener.execute("PRAGMA journal_mode = WAL")  # what a single try gets
    release = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        use_wal(opener, timeout=5.0)
    finally:
        release.join()
    assert opener.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    SqliteStore(path)  # and a store opens the file as it is


def test_wal_mode_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(opener, timeout=0.1)
    holder.execute("COMMIT")
