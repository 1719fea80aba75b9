"""Fixtures of the end-to-end tests: `--state` URLs by backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.redis import RedisServer


def state_url_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh `--state` URL on `backend` (memory, sqlite or redis) for one test."""
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    return server.url(db=1)
