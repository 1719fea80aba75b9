"""Time for the approval machinery: the wall clock, or a manual one tests move by hand.

Timeouts are measured on an injected `Clock` so tests never sleep: `ManualClock.advance`
wakes exactly the sleepers whose deadline has passed.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Seconds since the epoch, and a way to wait until a moment."""

    def now(self) -> float:
        """The current time."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return at or after `deadline`."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """`time.time()`."""
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep on the event loop until the wall clock reaches `deadline`."""
        while (remaining := deadline - time.time()) > 0:
            await anyio.sleep(remaining)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, anyio.Event]] = []
        self.sleeping = anyio.Event()

    def now(self) -> float:
        """The time last set."""
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        """Wait until `advance` passes `deadline`."""
        if deadline <= self._now:
            return
        woken = anyio.Event()
        self._sleepers.append((deadline, woken))
        self.sleeping.set()
        try:
            await woken.wait()
        finally:
            self._sleepers = [s for s in self._sleepers if s[1] is not woken]

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += seconds
        for deadline, woken in self._sleepers:
            if deadline <= self._now:
                woken.set()

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Return once at least `count` tasks are sleeping on this clock."""
        while len(self._sleepers) < count:
            self.sleeping = anyio.Event()
            await self.sleeping.wait()
