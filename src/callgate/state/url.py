"""Open a counter store from its `--state` URL.

- `memory://`: in this process only (tests, one-off runs).
- `sqlite:///PATH`: a SQLite file; `sqlite:///var/lib/callgate/state.db` is the absolute
  path `/var/lib/callgate/state.db` (the part after `sqlite://`, as with `file://` URLs);
  `sqlite:relative/state.db` and `sqlite:~/state.db` name a relative or home path;
  `sqlite://` alone (or no URL at all) means the default file in the user's data directory.
- `redis://[:PASSWORD@]HOST:PORT/DB` (and `rediss://` for TLS): a shared Redis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from callgate.state.memory import MemoryStore
from callgate.state.sqlite import SqliteStore
from callgate.state.store import CounterStore


class StoreURLError(ValueError):
    """A `--state` URL callgate cannot use."""


def default_sqlite_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_DATA_HOME/callgate/state.db`, or `~/.local/share/callgate/state.db`."""
    environ = os.environ if environ is None else environ
    data_home = environ.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(data_home) if Path(data_home).is_absolute() else Path.home() / ".local" / "share"
    return base / "callgate" / "state.db"


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:` URL names (see the module docstring)."""
    if not url.startswith("sqlite:"):
        raise StoreURLError(f"not a sqlite: URL: {url!r}")
    rest = url.removeprefix("sqlite:")
    if rest.startswith("//"):
        rest = rest.removeprefix("//")
        if rest and not rest.startswith("/"):
            raise StoreURLError(
                f"state URL {url!r} names a host; use sqlite:///ABSOLUTE/PATH "
                "or sqlite:RELATIVE/PATH"
            )
    if not rest:
        return default_sqlite_path()
    return Path(rest).expanduser()


def open_store(url: str | None = None) -> CounterStore:
    """The counter store a `--state` URL names; None means the default SQLite file."""
    if url is None:
        url = "sqlite://"
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:"):
        return SqliteStore(sqlite_path(url))
    if url.startswith(("redis://", "rediss://")):
        # The redis client takes ~150 ms to import: only Redis users pay for it.
        from callgate.state.redis import RedisStore  # noqa: PLC0415

        _check_redis_url(url)
        return RedisStore(url)
    raise StoreURLError(
        f"unknown state URL {url!r}: expected memory://, sqlite:///PATH or redis://HOST:PORT/DB"
    )


def _check_redis_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsing the port checks it
    except ValueError as error:
        raise StoreURLError(f"bad Redis state URL {url!r}: {error}") from error
    if not parts.hostname:
        raise StoreURLError(f"Redis state URL {url!r} has no host: use redis://HOST:PORT/DB")
    database = parts.path.removeprefix("/")
    if database and not database.isdigit():
        raise StoreURLError(
            f"Redis state URL {url!r}: the database must be a number, got {database!r}"
        )
