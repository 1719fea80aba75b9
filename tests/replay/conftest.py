"""Replay tests run on asyncio (the memory store never waits)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
