"""Counter-store backends for the contract tests: memory, a SQLite file, a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callgate.state.memory import MemoryStore
from callgate.state.redis import RedisStore
from callgate.state.split import SessionLocalStore
from callgate.state.sqlite import SqliteStore
from callgate.state.store import CounterStore
from tests.fixtures.redis import RedisServer


@dataclass
class Backend:
    """One backend under test; `open()` gives a new handle on the same counters."""

    name: str
    factory: Callable[[], CounterStore]
    opened: list[CounterStore] = field(default_factory=list)

    def open(self) -> CounterStore:
        """A new store handle (for memory: the one shared instance)."""
        store = self.factory()
        self.opened.append(store)
        return store

    @property
    def persistent(self) -> bool:
        """Whether a new handle (a restarted callgate) sees the counters of an old one."""
        return self.name != "memory"


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis), "session-local"],
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend in turn, empty at the start of the test."""
    if request.param == "memory":
        shared = MemoryStore()
        chosen = Backend("memory", lambda: shared)
    elif request.param == "sqlite":
        path = tmp_path / "state.db"
        chosen = Backend("sqlite", lambda: SqliteStore(path))
    elif request.param == "session-local":
        # stdio's store: session keys in this process's memory, the rest in a SQLite file.
        local = MemoryStore()
        path = tmp_path / "state.db"
        chosen = Backend("session-local", lambda: SessionLocalStore(SqliteStore(path), local=local))
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flush()
        chosen = Backend("redis", lambda: RedisStore(server.url()))
    yield chosen
    for store in chosen.opened:
        await store.aclose()


@pytest.fixture
def store(backend: Backend) -> CounterStore:
    """One store handle on an empty backend."""
    return backend.open()
