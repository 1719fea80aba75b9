"""The reserve decision shared by the stores that compute in Python (memory, SQLite).

`check_reservation` runs steps 1 and 2 of `CounterStore.reserve` (guards, then limits) over
a `LedgerView`, the backend's read access inside its own atomic section; the backend then
applies the charges itself and reports the guarded values with `read_values`. The Redis
store runs the same steps in its Lua script.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from callgate.state.amounts import ZERO, add
from callgate.state.counters import Charge, CounterKey, Guard, WindowKind
from callgate.state.store import Rejection
from callgate.state.windows import bucket_end, bucket_start, sliding_retry_after


class LedgerView(Protocol):
    """Read access to a backend's counters inside its atomic section."""

    def window_total(self, key: CounterKey, now: float) -> Decimal:
        """The sum of the sliding window's amounts at `now`."""
        ...

    def window_events(self, key: CounterKey, now: float) -> Iterable[tuple[float, Decimal]]:
        """The sliding window's `(timestamp, amount)` events at `now`, oldest first."""
        ...

    def bucket_value(self, key: CounterKey, start: int) -> Decimal:
        """The calendar bucket's sum (0 when absent)."""
        ...


def read_value(view: LedgerView, key: CounterKey, now: float) -> Decimal:
    """A key's current value: the sliding window's sum or the current calendar bucket's."""
    if key.window.kind is WindowKind.SLIDING:
        return view.window_total(key, now)
    return view.bucket_value(key, bucket_start(key.window.seconds, now))


def read_values(
    view: LedgerView, keys: Iterable[CounterKey], now: float
) -> dict[CounterKey, Decimal]:
    """Each key's current value (see `read_value`)."""
    return {key: read_value(view, key, now) for key in keys}


def validate_charges(charges: Sequence[Charge]) -> None:
    """Raise ValueError for a negative or non-finite amount, or a negative limit.

    Such a charge would lower a counter or poison its sum; the engine refuses them first,
    and this keeps every store safe whoever calls it.
    """
    for charge in charges:
        if not charge.amount.is_finite() or charge.amount < 0:
            raise ValueError(
                f"counter {charge.key.render()!r} (rule {charge.rule!r}): amounts must be"
                f" finite and not negative, got {charge.amount}"
            )
        if charge.limit is not None and charge.limit < 0:
            raise ValueError(
                f"counter {charge.key.render()!r} (rule {charge.rule!r}): a limit must not be"
                f" negative, got {charge.limit}"
            )


def check_reservation(
    view: LedgerView,
    charges: Sequence[Charge],
    guards: Mapping[CounterKey, Guard],
    now: float,
) -> Rejection | None:
    """The first reason to refuse these charges, or None when every guard and limit holds.

    A guard that no longer admits its counter refuses with every guarded counter's
    current value, so the caller can judge again without another read.
    """
    for key, guard in guards.items():
        if not guard.admits(read_value(view, key, now)):
            return Rejection(charge=None, stale_key=key, fresh=read_values(view, guards, now))
    earlier: dict[CounterKey, Decimal] = {}
    for charge in charges:
        key = charge.key
        held = earlier.get(key, ZERO)
        if charge.limit is not None:
            retry_after = _retry_after(view, charge, held, now)
            if retry_after is None or retry_after > 0:
                return Rejection(charge=charge, retry_after=retry_after)
        earlier[key] = add(held, charge.amount)
    return None


def _retry_after(view: LedgerView, charge: Charge, held: Decimal, now: float) -> float | None:
    """Seconds until the charge fits (0: it fits now), counting `held` from this same call."""
    assert charge.limit is not None
    key = charge.key
    seconds = key.window.seconds
    if key.window.kind is WindowKind.SLIDING:
        window_total = view.window_total(key, now)
        if held:
            window_total = add(window_total, held)
        if add(window_total, charge.amount) <= charge.limit:
            return 0.0  # fits now: the events need not be looked at
        events: Iterable[tuple[float, Decimal]] = view.window_events(key, now)
        if held:
            events = itertools.chain(events, [(now, held)])
        return sliding_retry_after(
            events,
            held=window_total,
            amount=charge.amount,
            limit=charge.limit,
            seconds=seconds,
            now=now,
        )
    value = add(view.bucket_value(key, bucket_start(seconds, now)), held)
    if add(value, charge.amount) <= charge.limit:
        return 0.0
    if charge.amount > charge.limit:
        return None
    return bucket_end(seconds, now) - now
