"""`MemoryStore`: counters in this process's memory, for tests and single-process use."""

from __future__ import annotations

import bisect
import itertools
import operator
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from callgate.state.admission import check_reservation, read_value, read_values, validate_charges
from callgate.state.amounts import ZERO, add, subtract, total
from callgate.state.counters import Charge, CounterKey, Guard, WindowKind
from callgate.state.store import Rejection, Reservation
from callgate.state.windows import bucket_end, bucket_start, sliding_cutoff

# A sliding-window event: (timestamp, sequence number, amount); the sequence number makes
# every event distinct, so a rollback removes exactly the events its reservation added.
_Event: TypeAlias = tuple[float, int, Decimal]
_stamp = operator.itemgetter(0)
_order = operator.itemgetter(0, 1)


class _Log:
    """One sliding window's events, oldest first, and the running sum of their amounts."""

    __slots__ = ("events", "sum")

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.sum = ZERO

    def first_inside(self, cutoff: float) -> int:
        """Index of the first event stamped after `cutoff`."""
        return bisect.bisect_right(self.events, cutoff, key=_stamp)

    def prune(self, cutoff: float) -> None:
        """Drop the events stamped at or before `cutoff`: they can never count again."""
        first = self.first_inside(cutoff)
        if first:
            self.sum = subtract(self.sum, total(amount for _, _, amount in self.events[:first]))
            del self.events[:first]

    def add(self, event: _Event) -> None:
        """Add an event (usually the newest, so usually an append)."""
        if not self.events or _order(self.events[-1]) <= _order(event):
            self.events.append(event)
        else:
            bisect.insort(self.events, event, key=_order)
        self.sum = add(self.sum, event[2])

    def remove(self, event: _Event) -> None:
        """Remove an event if it is still here."""
        index = bisect.bisect_left(self.events, _order(event), key=_order)
        if index < len(self.events) and self.events[index] == event:
            del self.events[index]
            self.sum = subtract(self.sum, event[2])


@dataclass(frozen=True, slots=True)
class _Applied:
    """One change a reservation made: an event added, or an amount added to a bucket."""

    key: CounterKey
    expires: float
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
        self._logs: dict[CounterKey, _Log] = {}
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
        guards: Mapping[CounterKey, Guard],
        now: float,
    ) -> Reservation | Rejection:
        """Atomically check every guard and limit, then apply every charge, or none."""
        validate_charges(charges)
        with self._lock:
            rejection = check_reservation(self, charges, guards, now)
            if rejection is not None:
                return rejection
            reservation_id = f"m{next(self._sequence)}"
            if charges:
                self._pending[reservation_id] = [self._apply(charge, now) for charge in charges]
                self._writes_since_sweep += 1
                if self._writes_since_sweep >= SWEEP_EVERY:
                    self._sweep(now)
            values = read_values(self, guards, now) if guards else {}
            return Reservation(id=reservation_id, charges=tuple(charges), values=values)

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
        log = self._logs.get(key)
        if log is None:
            return ZERO
        cutoff = now - key.window.seconds  # sliding_cutoff, inline: this runs on every call
        events = log.events
        if events and events[0][0] <= cutoff:
            log.prune(cutoff)  # expired events can never count again: drop them now
        return log.sum

    def window_events(self, key: CounterKey, now: float) -> Iterator[tuple[float, Decimal]]:
        """The sliding window's `(timestamp, amount)` events at `now`, oldest first."""
        log = self._logs.get(key)
        if log is None:
            return
        events = log.events
        for index in range(log.first_inside(sliding_cutoff(key.window.seconds, now)), len(events)):
            stamp, _, amount = events[index]
            yield stamp, amount

    def bucket_value(self, key: CounterKey, start: int) -> Decimal:
        """The calendar bucket's sum (0 when absent)."""
        return self._buckets.get(key, {}).get(start, ZERO)

    def _apply(self, charge: Charge, now: float) -> _Applied:
        key = charge.key
        if key.window.kind is WindowKind.SLIDING:
            log = self._logs.get(key)
            if log is None:
                log = self._logs[key] = _Log()
            cutoff = now - key.window.seconds
            if log.events and log.events[0][0] <= cutoff:
                log.prune(cutoff)
            event = (now, next(self._sequence), charge.amount)
            log.add(event)
            return _Applied(key=key, expires=now + key.window.seconds, event=event)
        start = bucket_start(key.window.seconds, now)
        old_buckets = self._buckets.get(key, {})
        # Only the current bucket is ever read; earlier ones are dropped on write.
        buckets = {when: value for when, value in old_buckets.items() if when >= start}
        buckets[start] = add(buckets.get(start, ZERO), charge.amount)
        self._buckets[key] = buckets
        expires = float(bucket_end(key.window.seconds, now))
        return _Applied(key=key, expires=expires, bucket=start, amount=charge.amount)

    def _sweep(self, now: float) -> None:
        self._writes_since_sweep = 0
        self._logs = {
            key: log
            for key, log in self._logs.items()
            if log.events and log.events[-1][0] > sliding_cutoff(key.window.seconds, now)
        }
        self._buckets = {
            key: buckets
            for key, buckets in self._buckets.items()
            if max(buckets) >= bucket_start(key.window.seconds, now)
        }
        # Reservations nobody settled are forgotten once nothing they added counts any more.
        self._pending = {
            reservation_id: applied
            for reservation_id, applied in self._pending.items()
            if max(change.expires for change in applied) > now
        }

    def _undo(self, applied: _Applied) -> None:
        if applied.event is not None:
            log = self._logs.get(applied.key)
            if log is not None:
                log.remove(applied.event)
            return
        buckets = self._buckets.get(applied.key)
        if buckets is not None and applied.bucket in buckets:
            buckets[applied.bucket] = subtract(buckets[applied.bucket], applied.amount)
