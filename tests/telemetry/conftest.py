"""The telemetry tests run on asyncio (the proxy's own loop family)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
