"""Open an approval store from the same `--state` URL as the counter store.

The URLs mean what they mean for counters (see `callgate.state.url`): `sqlite:///PATH`
(default: the same file in the user's data directory, in tables of its own),
`redis://HOST:PORT/DB`, or `memory://` (this process only).
"""

from __future__ import annotations

from callgate.approvals.store import ApprovalStore
from callgate.state.approvals_memory import MemoryApprovalStore
from callgate.state.approvals_sqlite import SqliteApprovalStore
from callgate.state.url import StoreURLError, _check_redis_url, sqlite_path

__all__ = ["open_approval_store"]


def open_approval_store(url: str | None = None) -> ApprovalStore:
    """The approval store a `--state` URL names; None means the default SQLite file."""
    if url is None:
        url = "sqlite://"
    if url == "memory://":
        return MemoryApprovalStore()
    if url.startswith("sqlite:"):
        return SqliteApprovalStore(sqlite_path(url))
    if url.startswith(("redis://", "rediss://")):
        # Imported on use: the Redis client costs import time nobody else should pay.
        from callgate.state.approvals_redis import RedisApprovalStore  # noqa: PLC0415

        _check_redis_url(url)
        return RedisApprovalStore(url)
    raise StoreURLError(
        f"unknown state URL {url!r}: expected memory://, sqlite:///PATH or redis://HOST:PORT/DB"
    )
