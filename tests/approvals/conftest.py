"""Approval-store backends for the contract tests: memory, a SQLite file, a real Redis."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from callgate.approvals.store import ApprovalStore
from callgate.state.approvals_memory import MemoryApprovalStore
from callgate.state.approvals_redis import RedisApprovalStore
from callgate.state.approvals_sqlite import SqliteApprovalStore
from tests.fixtures.redis import RedisServer

_prefixes = itertools.count()


StoreFactory = Callable[[], ApprovalStore]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Opens stores on one shared backend (every call: a new handle on the same data)."""
    opened: list[ApprovalStore] = []
    if request.param == "memory":
        shared = MemoryApprovalStore()

        def open_store() -> ApprovalStore:
            return shared

    elif request.param == "sqlite":
        path = tmp_path / "state.db"

        def open_store() -> ApprovalStore:
            store = SqliteApprovalStore(path, poll_interval=0.01)
            opened.append(store)
            return store

    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        prefix = f"test{next(_prefixes)}:"

        def open_store() -> ApprovalStore:
            store = RedisApprovalStore(server.url(), prefix=prefix, poll_interval=0.01)
            opened.append(store)
            return store

    yield open_store
    for store in opened:
        await store.aclose()


@pytest.fixture
async def store(store_factory: StoreFactory) -> ApprovalStore:
    """One store handle on a fresh backend."""
    return store_factory()
