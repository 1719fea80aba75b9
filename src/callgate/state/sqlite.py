"""`SqliteStore`: counters in one SQLite file, shared by every process that opens it.

WAL mode, and every reservation in a `BEGIN IMMEDIATE` transaction, so the check and the
write are one step for all processes on the file: two callgate processes enforce one limit
exactly. Amounts are stored as decimal strings and summed in Python, never as floats.

The statements are tiny (tens of microseconds), so they first run on the event loop with a
zero busy timeout; only when another connection holds the write lock does the work move to
a worker thread that waits for it (`busy_timeout`), so the loop never blocks on a lock.

Tables: `events` (sliding-window log), `buckets` (calendar sums), `pending` (what each
uncommitted reservation added, so a rollback can remove exactly that). Every row carries
the time it stops mattering (`expires`); each write deletes a bounded batch of expired rows.
"""

from __future__ import annotations

import itertools
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from callgate.state.admission import check_reservation, read_value
from callgate.state.amounts import ZERO, add, subtract, total
from callgate.state.counters import Charge, CounterKey, WindowKind
from callgate.state.store import Rejection, Reservation, StoreUnavailable
from callgate.state.windows import bucket_end, bucket_start, sliding_cutoff

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL, stamp REAL NOT NULL, amount TEXT NOT NULL, units INTEGER,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key, stamp);
CREATE INDEX IF NOT EXISTS events_by_expiry ON events (expires);
CREATE TABLE IF NOT EXISTS buckets (
    key TEXT NOT NULL, start INTEGER NOT NULL, amount TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (key, start)
);
CREATE INDEX IF NOT EXISTS buckets_by_expiry ON buckets (expires);
CREATE TABLE IF NOT EXISTS pending (
    reservation TEXT NOT NULL, event INTEGER, key TEXT, start INTEGER, amount TEXT,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_reservation ON pending (reservation);
CREATE INDEX IF NOT EXISTS pending_by_expiry ON pending (expires);
"""
SCHEMA_VERSION = 1

# `events.units` repeats a whole amount below this as an integer, so a window's total is one
# SQL sum in the common case (rate limits charge 1); other amounts are summed in Python.
UNITS_BOUND = 2**40

# A waiting writer retries BEGIN IMMEDIATE after pauses growing from FIRST_PAUSE to
# MAX_PAUSE (seconds, with jitter): short pauses, so a busy neighbour cannot starve it the
# way SQLite's own busy handler (sleeps up to 100 ms) lets it.
FIRST_PAUSE = 0.00005
MAX_PAUSE = 0.002

# Event ids are AUTOINCREMENT so a pruned event's id is never reused: a late rollback that
# names it deletes nothing rather than someone else's event.

# Expired rows deleted per table on each write: more than a write adds, so the file stays
# bounded, and few enough that no single write pays for a long idle period.
PRUNE_BATCH = 32

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


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

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Current value of each key in its window at `now` (reserved amounts included)."""

        def work(connection: sqlite3.Connection) -> dict[CounterKey, Decimal]:
            view = _Ledger(connection)
            return {key: read_value(view, key, now) for key in keys}

        return await self._run(work, write=False)

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Decimal],
        now: float,
    ) -> Reservation | Rejection:
        """Atomically check every guard and limit, then apply every charge, or none."""
        reservation_id = f"{self._id_prefix}-{next(self._sequence)}"

        def work(connection: sqlite3.Connection) -> Reservation | Rejection:
            view = _Ledger(connection)
            rejection = check_reservation(view, charges, guards, now)
            if rejection is not None:
                return rejection
            for charge in charges:
                view.apply(reservation_id, charge, now)
            view.prune(now)
            return Reservation(id=reservation_id, charges=tuple(charges))

        return await self._run(work, write=True)

    async def commit(self, reservation: Reservation, now: float) -> None:
        """Make a reservation permanent (the upstream call succeeded)."""

        def work(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM pending WHERE reservation = ?", (reservation.id,))

        await self._run(work, write=True)

    async def rollback(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation; a no-op when it was already committed or rolled back."""

        def work(connection: sqlite3.Connection) -> None:
            _Ledger(connection).undo(reservation.id)

        await self._run(work, write=True)

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
        connection.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a power loss may drop the last commits, never corrupt the file.
        connection.execute("PRAGMA synchronous = NORMAL")
        if create:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                connection.close()
                raise StoreUnavailable(
                    f"SQLite state file {self.path} has schema version {version}; this callgate"
                    f" reads version {SCHEMA_VERSION}: use another file or a matching callgate"
                )
            connection.executescript(SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
        connection.execute("PRAGMA busy_timeout = 0")
        return connection

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


def _units(amount: Decimal) -> int | None:
    """The amount as an integer when it is a small whole number, else None."""
    if amount == amount.to_integral_value() and abs(amount) < UNITS_BOUND:
        return int(amount)
    return None


class _Ledger:
    """The store's tables seen through one connection inside a transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def window_total(self, key: CounterKey, now: float) -> Decimal:
        """The sum of the sliding window's amounts at `now`."""
        window = (key.render(), sliding_cutoff(key.window.seconds, now))
        events, whole, units = self._connection.execute(
            "SELECT count(*), count(units), sum(units) FROM events WHERE key = ? AND stamp > ?",
            window,
        ).fetchone()
        if events == whole:
            return Decimal(units or 0)
        rows = self._connection.execute(
            "SELECT amount FROM events WHERE key = ? AND stamp > ?", window
        )
        return total(Decimal(amount) for (amount,) in rows)

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
        row = self._connection.execute(
            "SELECT amount FROM buckets WHERE key = ? AND start = ?", (key.render(), start)
        ).fetchone()
        return ZERO if row is None else Decimal(row[0])

    def apply(self, reservation_id: str, charge: Charge, now: float) -> None:
        """Add the charge and remember it under the reservation."""
        key = charge.key
        rendered = key.render()
        seconds = key.window.seconds
        amount = str(charge.amount)
        if key.window.kind is WindowKind.SLIDING:
            expires = now + seconds
            cursor = self._connection.execute(
                "INSERT INTO events (key, stamp, amount, units, expires) VALUES (?, ?, ?, ?, ?)",
                (rendered, now, amount, _units(charge.amount), expires),
            )
            self._connection.execute(
                "INSERT INTO pending (reservation, event, expires) VALUES (?, ?, ?)",
                (reservation_id, cursor.lastrowid, expires),
            )
            return
        start = bucket_start(seconds, now)
        expires = bucket_end(seconds, now)
        total = add(self.bucket_value(key, start), charge.amount)
        self._connection.execute(
            "INSERT INTO buckets (key, start, amount, expires) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key, start) DO UPDATE SET amount = excluded.amount",
            (rendered, start, str(total), expires),
        )
        self._connection.execute(
            "INSERT INTO pending (reservation, key, start, amount, expires) VALUES (?, ?, ?, ?, ?)",
            (reservation_id, rendered, start, amount, expires),
        )

    def undo(self, reservation_id: str) -> None:
        """Remove exactly what the reservation added, then forget it."""
        rows = self._connection.execute(
            "SELECT event, key, start, amount FROM pending WHERE reservation = ?",
            (reservation_id,),
        ).fetchall()
        for event, rendered, start, amount in rows:
            if event is not None:
                self._connection.execute("DELETE FROM events WHERE id = ?", (event,))
                continue
            row = self._connection.execute(
                "SELECT amount FROM buckets WHERE key = ? AND start = ?", (rendered, start)
            ).fetchone()
            if row is not None:
                self._connection.execute(
                    "UPDATE buckets SET amount = ? WHERE key = ? AND start = ?",
                    (str(subtract(Decimal(row[0]), Decimal(amount))), rendered, start),
                )
        self._connection.execute("DELETE FROM pending WHERE reservation = ?", (reservation_id,))

    def prune(self, now: float) -> None:
        """Delete a bounded batch of rows that no longer count."""
        for table in ("events", "buckets", "pending"):
            self._connection.execute(
                f"DELETE FROM {table} WHERE rowid IN"  # fixed table names, no input
                f" (SELECT rowid FROM {table} WHERE expires <= ? LIMIT {PRUNE_BATCH})",
                (now,),
            )
