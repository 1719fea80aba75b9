"""Shared pytest configuration: fixture plugins live in tests/fixtures/."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins: list[str] = ["tests.fixtures.node", "tests.fixtures.redis"]


@pytest.fixture(autouse=True)
def _private_data_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own XDG_DATA_HOME: nothing ever touches the user's real
    ~/.local/share/callgate/state.db, and parallel workers never share a default state file."""
    data_home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    return data_home
