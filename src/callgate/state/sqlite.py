"""`SqliteStore`: counters in one SQLite file, shared by every process that opens it.

WAL mode, and every reservation in a `BEGIN IMMEDIATE` transaction, so the check and the
write are one step for all processes on the file: two callgate processes enforce one limit
exactly. Amounts are stored as decimal strings and summed exactly, never as floats.

The statements are tiny (tens of microseconds), so they first run on the event loop with a
zero busy timeout; only when another connection holds the write lock does the work move to
a worker thread that waits for it (`busy_timeout`), so the loop never blocks on a lock.

Tables (WITHOUT ROWID, clustered by key): `events` (sliding-window log, one row per
event), `windows` (per sliding key: the sum of its stored events, so a window's sum is that
total minus the few events that expired since the last write, not a scan of the window) and
`buckets` (calendar sums). Each write drops the written key's expired rows; every
`SWEEP_EVERY` writes, up to `SWEEP_BATCH` idle keys and expired buckets go too.

What a reservation added is remembered in this process until it is committed (forgotten:
commit writes nothing) or rolled back (removed). A process that dies with reservations in
flight leaves their charges counted, as if committed: the store errs towards the limit.
"""

from __future__ import annotations

import itertools
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from callgate.state.admission import check_reservation, read_value, read_values, validate_charges
from callgate.state.amounts import ZERO, add, subtract, total
from callgate.state.counters import Charge, CounterKey, Guard, WindowKind
from callgate.state.store import Rejection, Reservation, StoreUnavailable
from callgate.state.windows import bucket_end, bucket_start, sliding_cutoff

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    key TEXT NOT NULL, stamp REAL NOT NULL, id INTEGER NOT NULL,
    amount TEXT NOT NULL, units INTEGER,
    PRIMARY KEY (key, stamp, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows (
    key TEXT NOT NULL PRIMARY KEY, total TEXT NOT NULL, expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS windows_by_expiry ON windows (expires);
CREATE TABLE IF NOT EXISTS buckets (
    key TEXT NOT NULL, start INTEGER NOT NULL, amount TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (key, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS buckets_by_expiry ON buckets (expires);
"""
# The file may hold other stores' tables too (approvals), so the counters' layout version
# lives in a table of its own, not in the file-wide `user_version`.
SCHEMA_VERSION = 3
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS counter_schema (version INTEGER NOT NULL);"
# Versions 1 and 2 (pre-release layouts of short-lived counters; 1 is marked by its
# `pending` table) are replaced.
REPLACED_VERSIONS = (1, 2)
OLD_TABLES = """
DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS buckets; DROP TABLE IF EXISTS pending;
DROP TABLE IF EXISTS windows;
"""

# `events.units` repeats a whole amount below this as an integer, so a window's total is one
# SQL sum in the common case (rate limits charge 1); other amounts are summed in Python.
UNITS_BOUND = 2**40

# A waiting writer retries BEGIN IMMEDIATE after pauses growing from FIRST_PAUSE to
# MAX_PAUSE (seconds, with jitter): short pauses, so a busy neighbour cannot starve it the
# way SQLite's own busy handler (sleeps up to 100 ms) lets it.
FIRST_PAUSE = 0.00005
MAX_PAUSE = 0.002

# Every SWEEP_EVERY writes, up to SWEEP_BATCH expired rows per table are deleted: idle keys
# go away, and no single write pays for a long idle period.
SWEEP_EVERY = 64
SWEEP_BATCH = 512

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def use_wal(connection: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode, waiting up to `timeout` seconds for other connections.

    Switching needs the file to itself, and SQLite answers "database is locked" at once,
    without its busy handler, where waiting could deadlock: when two processes open a new
    file together (two proxies sharing one state file) one of them gets that answer. The
    switch is tried again until `timeout`.
    """
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in _BUSY_CODES or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class SqliteStore:
    """A `CounterStore` in a SQLite file (WAL), safe for several processes on one file."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fast = self._connect(create=True)
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(f"cannot open SQLite state file {self.path}: {error}") from error
        # Opened on first contention; used by one worker thread at a time.
        self._waiting: sqlite3.Connection | None = None
        self._waiting_lock = threading.Lock()
        self._id_prefix = secrets.token_hex(6)
        self._sequence = itertools.count()
        self._pending: dict[str, list[_Undo]] = {}
        self._writes = 0

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Current value of each key in its window at `now` (reserved amounts included)."""

        def work(connection: sqlite3.Connection) -> dict[CounterKey, Decimal]:
            view = _Ledger(connection)
            return {key: read_value(view, key, now) for key in keys}

        return await self._run(work, write=False)

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Guard],
        now: float,
    ) -> Reservation | Rejection:
        """Atomically check every guard and limit, then apply every charge, or none.

        Without charges (a confirmation of guards) it is a read transaction: no write lock.
        """
        validate_charges(charges)
        write = bool(charges)
        if write:
            self._writes += 1
        sweep = write and self._writes % SWEEP_EVERY == 0

        def work(
            connection: sqlite3.Connection,
        ) -> tuple[list[_Undo], dict[CounterKey, Decimal]] | Rejection:
            view = _Ledger(connection)
            rejection = check_reservation(view, charges, guards, now)
            if rejection is not None:
                return rejection
            undo = [view.apply(charge, now, random.getrandbits(63)) for charge in charges]
            if sweep:
                view.sweep(now)
            # The ledger remembers what it read and wrote: no statement runs for these.
            return undo, read_values(view, guards, now)

        outcome = await self._run(work, write=write)
        if isinstance(outcome, Rejection):
            return outcome
        undo, values = outcome
        reservation_id = f"{self._id_prefix}-{next(self._sequence)}"
        if undo:
            self._pending[reservation_id] = undo
        if sweep:
            self._forget_expired(now)
        return Reservation(id=reservation_id, charges=tuple(charges), values=values)

    async def commit(self, reservation: Reservation, now: float) -> None:
        """Make a reservation permanent (the upstream call succeeded): nothing to write."""
        self._pending.pop(reservation.id, None)

    async def rollback(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation; a no-op when it was already committed or rolled back."""
        # Taken out first, so a second rollback running meanwhile finds nothing to undo.
        undo = self._pending.pop(reservation.id, None)
        if undo is None:
            return

        def work(connection: sqlite3.Connection) -> None:
            ledger = _Ledger(connection)
            for change in undo:
                ledger.undo(change)

        try:
            await self._run(work, write=True)
        except BaseException:
            self._pending[reservation.id] = undo  # nothing was undone: it may be retried
            raise

    async def aclose(self) -> None:
        """Close the file's connections."""
        self._fast.close()
        with self._waiting_lock:
            if self._waiting is not None:
                self._waiting.close()
                self._waiting = None

    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        """A connection in WAL mode; it waits for locks while setting up, never after."""
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=0
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        use_wal(connection, self._busy_timeout)
        # NORMAL in WAL mode: a power loss may drop the last commits, never corrupt the file.
        connection.execute("PRAGMA synchronous = NORMAL")
        if create:
            self._create_tables(connection)
        connection.execute("PRAGMA busy_timeout = 0")
        return connection

    def _create_tables(self, connection: sqlite3.Connection) -> None:
        """Create the counter tables (replacing a pre-release layout) under the write lock."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _schema_version(connection)
            if version == 0 or version in REPLACED_VERSIONS:
                for statement in (OLD_TABLES + SCHEMA).split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute("DELETE FROM counter_schema")
                connection.execute("INSERT INTO counter_schema VALUES (?)", (SCHEMA_VERSION,))
                version = SCHEMA_VERSION
        except BaseException:
            connection.execute("ROLLBACK")
            connection.close()
            raise
        connection.execute("COMMIT")
        if version != SCHEMA_VERSION:
            connection.close()
            raise StoreUnavailable(
                f"SQLite state file {self.path} has counter schema version {version}; this"
                f" callgate reads version {SCHEMA_VERSION}: use another file or a matching"
                " callgate"
            )

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        try:
            return _transaction(self._fast, work, write=write)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in _BUSY_CODES:
                raise self._unavailable(error) from error
        except sqlite3.Error as error:
            raise self._unavailable(error) from error
        return await anyio.to_thread.run_sync(self._run_waiting, work, write)

    def _run_waiting(self, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        """Retry the transaction in this worker thread until the lock is free or time is up."""
        deadline = time.monotonic() + self._busy_timeout
        pause = FIRST_PAUSE
        with self._waiting_lock:
            while True:
                try:
                    if self._waiting is None:
                        self._waiting = self._connect()
                    return _transaction(self._waiting, work, write=write)
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode not in _BUSY_CODES or time.monotonic() > deadline:
                        raise self._unavailable(error) from error
                except sqlite3.Error as error:
                    raise self._unavailable(error) from error
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, MAX_PAUSE)

    def _forget_expired(self, now: float) -> None:
        """Forget reservations nobody settled once nothing they added counts any more."""
        self._pending = {
            reservation_id: undo
            for reservation_id, undo in self._pending.items()
            if max(change.expires for change in undo) > now
        }

    def _unavailable(self, error: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(f"SQLite state file {self.path}: {error}")


def _transaction(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], *, write: bool
) -> T:
    """Run `work` in one transaction: IMMEDIATE (the write lock up front) when it writes."""
    connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


def _schema_version(connection: sqlite3.Connection) -> int:
    """The counter tables' layout version: 0 when there are none yet."""
    connection.execute(VERSION_TABLE)
    version: int | None = connection.execute("SELECT max(version) FROM counter_schema").fetchone()[
        0
    ]
    if version is not None:
        return version
    old = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pending'"
    ).fetchone()
    return 1 if old else 0


def _units(amount: Decimal) -> int | None:
    """The amount as an integer when it is a small whole number, else None."""
    if amount == amount.to_integral_value() and abs(amount) < UNITS_BOUND:
        return int(amount)
    return None


@dataclass(frozen=True, slots=True)
class _Undo:
    """How to take back one applied charge: an event to delete or an amount to subtract."""

    key: str
    expires: float
    stamp: float = 0.0
    event_id: int | None = None
    start: int = 0
    amount: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class _Window:
    """A sliding key as one transaction read it: its stored total (None: no row), and the
    sum and number of its stored events that have left the window."""

    stored: Decimal | None
    expired: Decimal
    count: int


class _Ledger:
    """The store's tables seen through one connection inside a transaction.

    What a transaction has read of a sliding key (its stored total and the expired part)
    or of a bucket is kept for the rest of the transaction, so applying a charge does not
    read again what checking its limit just read: nothing else writes meanwhile.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._windows: dict[tuple[str, float], _Window] = {}
        self._buckets: dict[tuple[str, int], Decimal] = {}

    def window_total(self, key: CounterKey, now: float) -> Decimal:
        """The sum of the sliding window's amounts at `now`."""
        window = self._window(key.render(), sliding_cutoff(key.window.seconds, now))
        if window.stored is None:
            return ZERO
        return subtract(window.stored, window.expired)

    def _window(self, rendered: str, cutoff: float) -> _Window:
        """The key's stored total and the sum and count of its events at or before `cutoff`."""
        cached = self._windows.get((rendered, cutoff))
        if cached is not None:
            return cached
        stored, events, whole, units = self._connection.execute(
            "SELECT (SELECT total FROM windows WHERE key = ?1), count(*), count(units),"
            " sum(units) FROM events WHERE key = ?1 AND stamp <= ?2",
            (rendered, cutoff),
        ).fetchone()
        if events == whole:
            expired = Decimal(units or 0)
        else:
            rows = self._connection.execute(
                "SELECT amount FROM events WHERE key = ? AND stamp <= ?", (rendered, cutoff)
            )
            expired = total(Decimal(amount) for (amount,) in rows)
        window = _Window(None if stored is None else Decimal(stored), expired, events)
        self._windows[rendered, cutoff] = window
        return window

    def _stored_total(self, rendered: str) -> Decimal | None:
        """The sum of every event stored for the key (None when there are none)."""
        row = self._connection.execute(
            "SELECT total FROM windows WHERE key = ?", (rendered,)
        ).fetchone()
        return None if row is None else Decimal(row[0])

    def window_events(self, key: CounterKey, now: float) -> Iterator[tuple[float, Decimal]]:
        """The sliding window's `(timestamp, amount)` events at `now`, oldest first, lazily."""
        rows = self._connection.execute(
            "SELECT stamp, amount FROM events WHERE key = ? AND stamp > ? ORDER BY stamp",
            (key.render(), sliding_cutoff(key.window.seconds, now)),
        )
        try:
            for stamp, amount in rows:
                yield stamp, Decimal(amount)
        finally:
            rows.close()

    def bucket_value(self, key: CounterKey, start: int) -> Decimal:
        """The calendar bucket's sum (0 when absent)."""
        return self._bucket(key.render(), start)

    def _bucket(self, rendered: str, start: int) -> Decimal:
        cached = self._buckets.get((rendered, start))
        if cached is not None:
            return cached
        row = self._connection.execute(
            "SELECT amount FROM buckets WHERE key = ? AND start = ?", (rendered, start)
        ).fetchone()
        value = ZERO if row is None else Decimal(row[0])
        self._buckets[rendered, start] = value
        return value

    def apply(self, charge: Charge, now: float, event_id: int) -> _Undo:
        """Add the charge; return how to take it back."""
        key = charge.key
        rendered = key.render()
        seconds = key.window.seconds
        if key.window.kind is WindowKind.SLIDING:
            # Expired events go now, so the stored total stays close to the window's.
            cutoff = sliding_cutoff(seconds, now)
            window = self._window(rendered, cutoff)
            if window.count:
                self._connection.execute(
                    "DELETE FROM events WHERE key = ? AND stamp <= ?", (rendered, cutoff)
                )
            self._connection.execute(
                "INSERT INTO events (key, stamp, id, amount, units) VALUES (?, ?, ?, ?, ?)",
                (rendered, now, event_id, str(charge.amount), _units(charge.amount)),
            )
            stored = subtract(add(window.stored or ZERO, charge.amount), window.expired)
            self._connection.execute(
                "INSERT INTO windows (key, total, expires) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE"
                " SET total = excluded.total, expires = max(expires, excluded.expires)",
                (rendered, str(stored), now + seconds),
            )
            self._windows[rendered, cutoff] = _Window(stored, ZERO, 0)
            return _Undo(rendered, now + seconds, stamp=now, event_id=event_id)
        start = bucket_start(seconds, now)
        self._connection.execute(
            "DELETE FROM buckets WHERE key = ? AND start < ?", (rendered, start)
        )
        value = add(self._bucket(rendered, start), charge.amount)
        self._connection.execute(
            "INSERT INTO buckets (key, start, amount, expires) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key, start) DO UPDATE SET amount = excluded.amount",
            (rendered, start, str(value), bucket_end(seconds, now)),
        )
        self._buckets[rendered, start] = value
        return _Undo(rendered, bucket_end(seconds, now), start=start, amount=charge.amount)

    def undo(self, change: _Undo) -> None:
        """Take back one change, if what it added is still there."""
        if change.event_id is not None:
            event = (change.key, change.stamp, change.event_id)
            deleted = self._connection.execute(
                "SELECT amount FROM events WHERE key = ? AND stamp = ? AND id = ?", event
            ).fetchone()
            stored = self._stored_total(change.key)
            if deleted is not None and stored is not None:
                self._connection.execute(
                    "DELETE FROM events WHERE key = ? AND stamp = ? AND id = ?", event
                )
                self._connection.execute(
                    "UPDATE windows SET total = ? WHERE key = ?",
                    (str(subtract(stored, Decimal(deleted[0]))), change.key),
                )
            return
        row = self._connection.execute(
            "SELECT amount FROM buckets WHERE key = ? AND start = ?", (change.key, change.start)
        ).fetchone()
        if row is not None:
            self._connection.execute(
                "UPDATE buckets SET amount = ? WHERE key = ? AND start = ?",
                (str(subtract(Decimal(row[0]), change.amount)), change.key, change.start),
            )

    def sweep(self, now: float) -> None:
        """Delete a bounded batch of expired rows, whichever keys they belong to."""
        idle = self._connection.execute(
            f"SELECT key FROM windows WHERE expires <= ? LIMIT {SWEEP_BATCH}", (now,)
        ).fetchall()
        for (rendered,) in idle:
            self._connection.execute("DELETE FROM events WHERE key = ?", (rendered,))
            self._connection.execute("DELETE FROM windows WHERE key = ?", (rendered,))
        self._connection.execute(
            "DELETE FROM buckets WHERE (key, start) IN (SELECT key, start FROM buckets"
            f" WHERE expires <= ? LIMIT {SWEEP_BATCH})",
            (now,),
        )
