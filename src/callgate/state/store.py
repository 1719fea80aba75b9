"""The counter store port: reserve, commit and roll back counters, all-or-nothing.

Backends (memory, SQLite, Redis) implement `CounterStore`; one contract test suite runs
over all of them. Stores raise `StoreUnavailable` when they cannot be reached; the gate
turns that into a fail-closed denial unless the policy says `fail_mode: open`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from callgate.state.counters import Charge, CounterKey, Guard


class StoreUnavailable(Exception):  # noqa: N818 - the name says what happened
    """The store could not be reached or answered with an error."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """Charges held for one in-flight call; commit on success, roll back on failure.

    `values` are the guarded counters' values once the charges were applied, read in the
    same atomic step (empty when the store could not tell, e.g. a retried script call).
    """

    id: str
    charges: tuple[Charge, ...]
    values: Mapping[CounterKey, Decimal] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a reservation was refused.

    `charge` is the rate-limit charge that would exceed its limit (with `retry_after`
    seconds until a slot frees), or None when a guarded counter left its guard's range
    (`stale_key`); `fresh` then holds the current value of every guarded counter, read in
    the same atomic step, so the caller re-evaluates without reading again.
    """

    charge: Charge | None
    retry_after: float | None = None
    stale_key: CounterKey | None = None
    fresh: Mapping[CounterKey, Decimal] = field(default_factory=dict, hash=False)


class CounterStore(Protocol):
    """Counters for rate limits and `state` sums, shared by every caller of one backend."""

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Current value of each key in its window at `now` (reserved amounts included)."""
        ...

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Guard],
        now: float,
    ) -> Reservation | Rejection:
        """Atomically check every guard and limit, then apply every charge, or none.

        With no charges it only confirms that every guard still holds (a decision that
        reserves nothing but relied on counters), and returns a reservation holding nothing.
        """
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
