"""`SqliteApprovalStore`: approvals and grants in the state SQLite file, own tables.

Any process that opens the file sees the same approvals: `callgate approvals approve` in a
terminal releases a call held by the running proxy, and pending requests survive a restart.
Status changes are compare-and-set (`UPDATE ... WHERE status = ?`) so the first answer wins
across processes. A waiter polls the file at a short interval (`poll_interval`); SQLite has
no cross-process notification.

Tables: `approvals` (the request as JSON text, its status and resolution) and
`approval_grants` (standing grants, with the time they stop mattering).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from callgate.approvals.model import (
    Approval,
    ApprovalRequest,
    Grant,
    Resolution,
    Status,
    dump_grant,
    dump_request,
    dump_resolution,
    load_grant,
    load_request,
    load_resolution,
)
from callgate.approvals.store import ApprovalConflict, ApprovalNotFound, grant_from
from callgate.state.sqlite import use_wal
from callgate.state.store import StoreUnavailable

__all__ = ["SqliteApprovalStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    request TEXT NOT NULL,
    resolution TEXT,
    consumed_at REAL
);
CREATE INDEX IF NOT EXISTS approvals_by_fingerprint ON approvals (fingerprint, created_at);
CREATE INDEX IF NOT EXISTS approvals_by_created ON approvals (created_at);
CREATE TABLE IF NOT EXISTS approval_grants (
    approval_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    expires_at REAL,
    grant TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approval_grants_by_fingerprint ON approval_grants (fingerprint);
"""

_COLUMNS = "request, status, resolution, consumed_at"


class SqliteApprovalStore:
    """An `ApprovalStore` in a SQLite file (WAL), shared by every process that opens it."""

    def __init__(
        self, path: Path | str, *, poll_interval: float = 0.05, busy_timeout: float = 5.0
    ) -> None:
        self.path = Path(path)
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            use_wal(self._connection, busy_timeout)
            self._connection.execute("PRAGMA synchronous = NORMAL")
            self._connection.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(f"cannot open SQLite state file {self.path}: {error}") from error

    async def create(self, request: ApprovalRequest) -> Approval:
        """Store a new request."""

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO approvals (id, fingerprint, status, created_at, request)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    request.id,
                    request.fingerprint,
                    Status.REQUESTED.value,
                    request.created_at,
                    dump_request(request),
                ),
            )

        await self._run(work)
        return Approval(request)

    async def get(self, approval_id: str) -> Approval:
        """The approval with that id."""
        approval = await self._run(lambda db: _select_one(db, approval_id))
        if approval is None:
            raise ApprovalNotFound(approval_id)
        return approval

    async def list(
        self, statuses: Collection[Status] | None = None, limit: int = 100
    ) -> list[Approval]:
        """Newest first."""
        chosen = sorted(status.value for status in statuses) if statuses is not None else None

        def work(db: sqlite3.Connection) -> list[Approval]:
            if chosen is None:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM approvals ORDER BY created_at DESC LIMIT ?",
                    (limit,),
                )
            else:
                marks = ",".join("?" * len(chosen))
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM approvals WHERE status IN ({marks})"
                    " ORDER BY created_at DESC LIMIT ?",
                    (*chosen, limit),
                )
            return [_approval(row) for row in rows]

        return await self._run(work)

    async def latest_for(self, fingerprint: str) -> Approval | None:
        """The newest approval for that fingerprint."""

        def work(db: sqlite3.Connection) -> Approval | None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE fingerprint = ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (fingerprint,),
            ).fetchone()
            return _approval(row) if row is not None else None

        return await self._run(work)

    async def resolve(self, approval_id: str, resolution: Resolution) -> Approval:
        """Compare-and-set from `requested`, storing any grant in the same transaction."""

        def work(db: sqlite3.Connection) -> Approval:
            current = _require(db, approval_id)
            if current.status is not Status.REQUESTED:
                raise ApprovalConflict(current)
            db.execute(
                "UPDATE approvals SET status = ?, resolution = ? WHERE id = ? AND status = ?",
                (
                    resolution.status.value,
                    dump_resolution(resolution),
                    approval_id,
                    Status.REQUESTED.value,
                ),
            )
            settled = current.with_status(resolution.status, resolution)
            grant = grant_from(settled)
            if grant is not None:
                db.execute(
                    "INSERT INTO approval_grants (approval_id, fingerprint, expires_at, grant)"
                    " VALUES (?, ?, ?, ?)",
                    (grant.approval_id, grant.fingerprint, grant.expires_at, dump_grant(grant)),
                )
            return settled

        return await self._run(work)

    async def consume(self, approval_id: str, now: float) -> Approval:
        """Compare-and-set from `approved` to `consumed`."""

        def work(db: sqlite3.Connection) -> Approval:
            current = _require(db, approval_id)
            if current.status is not Status.APPROVED:
                raise ApprovalConflict(current)
            db.execute(
                "UPDATE approvals SET status = ?, consumed_at = ? WHERE id = ?",
                (Status.CONSUMED.value, now, approval_id),
            )
            return current.with_status(Status.CONSUMED, consumed_at=now)

        return await self._run(work)

    async def find_grant(self, fingerprint: str, session: str, now: float) -> Grant | None:
        """A live grant for that fingerprint and session; expired ones are deleted."""

        def work(db: sqlite3.Connection) -> Grant | None:
            db.execute(
                "DELETE FROM approval_grants WHERE fingerprint = ? AND expires_at <= ?",
                (fingerprint, now),
            )
            rows = db.execute(
                "SELECT grant FROM approval_grants WHERE fingerprint = ?", (fingerprint,)
            )
            grants = (load_grant(text) for (text,) in rows)
            return next((g for g in grants if g.covers(fingerprint, session, now)), None)

        return await self._run(work)

    async def wait_resolved(self, approval_id: str) -> Approval:
        """Poll the file until the approval leaves `requested`."""
        while True:
            current = await self.get(approval_id)
            if current.status is not Status.REQUESTED:
                return current
            await anyio.sleep(self.poll_interval)

    async def aclose(self) -> None:
        """Close the file."""
        with self._lock:
            self._connection.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._run_locked, work)

    def _run_locked(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._connection)
                    self._connection.execute("COMMIT")
                except BaseException:
                    if self._connection.in_transaction:
                        self._connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise StoreUnavailable(f"SQLite state file {self.path}: {error}") from error
            return result


def _select_one(db: sqlite3.Connection, approval_id: str) -> Approval | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)).fetchone()
    return _approval(row) if row is not None else None


def _require(db: sqlite3.Connection, approval_id: str) -> Approval:
    approval = _select_one(db, approval_id)
    if approval is None:
        raise ApprovalNotFound(approval_id)
    return approval


def _approval(row: tuple[Any, ...]) -> Approval:
    request, status, resolution, consumed_at = row
    return Approval(
        request=load_request(request),
        status=Status(status),
        resolution=load_resolution(resolution),
        consumed_at=consumed_at,
    )
