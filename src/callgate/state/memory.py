"""`MemoryStore`: counters in this process's memory, for tests and single-process use."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from callgate.state.admission import check_reservation, read_value
from callgate.state.amounts import ZERO, add, subtract, total
from callgate.state.counters import Charge, CounterKey, WindowKind
from callgate.state.store import Rejection, Reservation
from callgate.state.windows import bucket_start, sliding_cutoff

# A sliding-window event: (timestamp, sequence number, amount); the sequence number makes
# every event distinct, so a rollback removes exactly the events its reservation added.
_Event: TypeAlias = tuple[float, int, Decimal]


@dataclass(frozen=True, slots=True)
class _Applied:
    """One change a reservation made: an event added, or an amount added to a bucket."""

    key: CounterKey
    event: _Event | None = None
    bucket: int = 0
    amount: Decimal = ZERO


# Keys nobody charges any more are dropped by a sweep over all keys every this many writes.
SWEEP_EVERY = 1024


class MemoryStore:
    """A `CounterStore` in memory; the same semantics as the SQLite and Redis stores.

    Every method runs to completion without awaiting, under one lock, so it is atomic for
    every task and thread of the process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[CounterKey, list[_Event]] = {}
        self._buckets: dict[CounterKey, dict[int, Decimal]] = {}
        self._pending: dict[str, list[_Applied]] = {}
        self._sequence = itertools.count()
        self._writes_since_sweep = 0

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Current value of each key in its window at `now` (reserved amounts included)."""
        with self._lock:
            return {key: read_value(self, key, now) for key in keys}

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Decimal],
        now: float,
    ) -> Reservation | Rejection:
        """Atomically check every guard and limit, then apply every charge, or none."""
        with self._lock:
            rejection = check_reservation(self, charges, guards, now)
            if rejection is not None:
                return rejection
            reservation_id = f"m{next(self._sequence)}"
            self._pending[reservation_id] = [self._apply(charge, now) for charge in charges]
            self._writes_since_sweep += 1
            if self._writes_since_sweep >= SWEEP_EVERY:
                self._sweep(now)
            return Reservation(id=reservation_id, charges=tuple(charges))

    async def commit(self, reservation: Reservation, now: float) -> None:
        """Make a reservation permanent (the upstream call succeeded)."""
        with self._lock:
            self._pending.pop(reservation.id, None)

    async def rollback(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation; a no-op when it was already committed or rolled back."""
        with self._lock:
            for applied in self._pending.pop(reservation.id, ()):
                self._undo(applied)

    async def aclose(self) -> None:
        """Nothing to release."""

    def window_total(self, key: CounterKey, now: float) -> Decimal:
        """The sum of the sliding window's amounts at `now`."""
        return total(amount for _, amount in self.window_events(key, now))

    def window_events(self, key: CounterKey, now: float) -> Sequence[tuple[float, Decimal]]:
        """The sliding window's `(timestamp, amount)` events at `now`, oldest first."""
        events = self._events.get(key)
        if not events:
            return ()
        first = bisect.bisect_right(
            events, sliding_cutoff(key.window.seconds, now), key=lambda event: event[0]
        )
        return [(stamp, amount) for stamp, _, amount in events[first:]]

    def bucket_value(self, key: CounterKey, start: int) -> Decimal:
        """The calendar bucket's sum (0 when absent)."""
        return self._buckets.get(key, {}).get(start, ZERO)

    def _apply(self, charge: Charge, now: float) -> _Applied:
        key = charge.key
        if key.window.kind is WindowKind.SLIDING:
            events = self._events.setdefault(key, [])
            # Events at or before the cutoff can never count again: drop them on write.
            del events[
                : bisect.bisect_right(
                    events, sliding_cutoff(key.window.seconds, now), key=lambda event: event[0]
                )
            ]
            event = (now, next(self._sequence), charge.amount)
            bisect.insort(events, event, key=lambda item: (item[0], item[1]))
            return _Applied(key=key, event=event)
        start = bucket_start(key.window.seconds, now)
        old_buckets = self._buckets.get(key, {})
        # Only the current bucket is ever read; earlier ones are dropped on write.
        buckets = {when: value for when, value in old_buckets.items() if when >= start}
        buckets[start] = add(buckets.get(start, ZERO), charge.amount)
        self._buckets[key] = buckets
        return _Applied(key=key, bucket=start, amount=charge.amount)

    def _sweep(self, now: float) -> None:
        self._writes_since_sweep = 0
        self._events = {
            key: events
            for key, events in self._events.items()
            if events and events[-1][0] > sliding_cutoff(key.window.seconds, now)
        }
        self._buckets = {
            key: buckets
            for key, buckets in self._buckets.items()
            if max(buckets) >= bucket_start(key.window.seconds, now)
        }

    def _undo(self, applied: _Applied) -> None:
        if applied.event is not None:
            events = self._events.get(applied.key, [])
            if applied.event in events:
                events.remove(applied.event)
            return
        buckets = self._buckets.get(applied.key)
        if buckets is not None and applied.bucket in buckets:
            buckets[applied.bucket] = subtract(buckets[applied.bucket], applied.amount)
