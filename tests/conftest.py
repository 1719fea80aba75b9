"""Shared pytest configuration: fixture plugins live in tests/fixtures/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

pytest_plugins: list[str] = ["tests.fixtures.node", "tests.fixtures.redis"]

# Property tests check answers, not speed: on a loaded 2-core CI machine one example can
# take longer than Hypothesis's default 200 ms deadline, which fails a correct test.
settings.register_profile("callgate", deadline=None)
settings.load_profile("callgate")


@pytest.fixture(autouse=True)
def _private_data_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own XDG_DATA_HOME: nothing ever touches the user's real
    ~/.local/share/callgate/state.db, and parallel workers never share a default state file."""
    data_home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    return data_home


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the backend callgate itself runs on)."""
    return "asyncio"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment for callgate processes a test starts: their data directory (and
    audit key) inside the test's own tmp_path."""
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
