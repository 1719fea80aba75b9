"""`--state` URLs: which store and which file they name, and clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.state.memory import MemoryStore
from callgate.state.redis import RedisStore
from callgate.state.sqlite import SqliteStore
from callgate.state.url import StoreURLError, default_sqlite_path, open_store, sqlite_path

pytestmark = pytest.mark.anyio


def test_default_path_follows_xdg_data_home() -> None:
    assert default_sqlite_path({"XDG_DATA_HOME": "/data"}) == Path("/data/callgate/state.db")


def test_default_path_ignores_relative_or_missing_xdg_data_home() -> None:
    fallback = Path.home() / ".local/share/callgate/state.db"
    assert default_sqlite_path({"XDG_DATA_HOME": "relative"}) == fallback
    assert default_sqlite_path({}) == fallback


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/callgate/state.db", Path("/var/lib/callgate/state.db")),
        ("sqlite:state.db", Path("state.db")),
        ("sqlite:~/state.db", Path.home() / "state.db"),
    ],
)
def test_sqlite_url_names_a_file(url: str, path: Path) -> None:
    assert sqlite_path(url) == path


def test_bare_sqlite_url_means_the_default_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "/somewhere")
    assert sqlite_path("sqlite://") == Path("/somewhere/callgate/state.db")


async def test_no_url_opens_the_default_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    store = open_store(None)
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "callgate" / "state.db"
    assert store.path.exists()
    await store.aclose()


async def test_each_scheme_opens_its_backend(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    sqlite = open_store(f"sqlite://{tmp_path}/state.db")
    assert isinstance(sqlite, SqliteStore)
    assert sqlite.path == tmp_path / "state.db"
    await sqlite.aclose()
    redis = open_store("redis://127.0.0.1:6390/2")
    assert isinstance(redis, RedisStore)
    await redis.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://db/x", "expected memory://, sqlite:///PATH or redis://HOST:PORT/DB"),
        ("sqlite://host/state.db", "names a host"),
        ("redis://127.0.0.1:notaport/0", "bad Redis state URL"),
        ("redis:///0", "has no host"),
        ("redis://127.0.0.1:6379/zero", "the database must be a number"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(url: str, message: str) -> None:
    with pytest.raises(StoreURLError, match=message):
        open_store(url)
