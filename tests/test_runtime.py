"""The event loop `callgate run` uses: uvloop when installed, asyncio's when told."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from callgate import runtime


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_runs_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtime.LOOP_VARIABLE, raising=False)
    assert runtime.use_uvloop()
    assert issubclass(runtime.run(_loop_type), uvloop.Loop)


def test_the_environment_picks_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime.LOOP_VARIABLE, "asyncio")
    assert not runtime.use_uvloop()
    assert not issubclass(runtime.run(_loop_type), uvloop.Loop)
