"""The counter store port: reserve, commit and roll back counters, all-or-nothing.

Backends (memory, SQLite, Redis) implement `CounterStore`; one contract test suite runs
over all of them. Stores raise `StoreUnavailable` when they cannot be reached; the gate
turns that into a fail-closed denial unless the policy says `fail_mode: open`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from callgate.state.counters import Charge, CounterKey


class StoreUnavailable(Exception):  # noqa: N818 - the name says what happened
    """The store could not be reached or answered with an error."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """Charges held for one in-flight call; commit on success, roll back on failure."""

    id: str
    charges: tuple[Charge, ...]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a reservation was refused.

    `charge` is the rate-limit charge that would exceed its limit (with `retry_after`
    seconds until a slot frees), or None when a guarded counter changed since it was read
    (`stale_key`), in which case the caller re-reads and re-evaluates.
    """

    charge: Charge | None
    retry_after: float | None = None
    stale_key: CounterKey | None = None


class CounterStore(Protocol):
    """Counters for rate limits and `state` sums, shared by every caller of one backend."""

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Current value of each key in its window at `now` (reserved amounts included)."""
        ...

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Decimal],
        now: float,
    ) -> Reservation | Rejection:
        """Atomically check every guard and limit, then apply every charge, or none."""
        ...

    async def commit(self, reservation: Reservation, now: float) -> None:
        """Make a reservation permanent (the upstream call succeeded)."""
        ...

    async def rollback(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation (the upstream call failed, timed out or was cancelled)."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...
