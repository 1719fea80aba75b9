"""Window arithmetic: calendar buckets and sliding-window retry-after (pure, time passed in).

Times are Unix seconds (UTC). A calendar window of `seconds` is aligned to multiples of
`seconds` since the epoch, which puts minute, hour and day buckets on UTC boundaries
(Unix time has no leap seconds, so every UTC day is 86,400 of them).

A sliding window of `seconds` at `now` holds the events stamped in `(now - seconds, now]`;
events stamped later than `now` (by an instance whose clock runs ahead) are counted too.
An event stamped `t` leaves the window at `t + seconds`. Stores drop events once the
window of the write that sees them has passed them, so between instances whose clocks
disagree, the window's oldest edge is only as exact as the clocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

from callgate.state.amounts import add, subtract


def bucket_start(seconds: int, now: float) -> int:
    """Start of the calendar bucket of length `seconds` that holds `now`."""
    return math.floor(now / seconds) * seconds


def bucket_end(seconds: int, now: float) -> int:
    """End (exclusive) of the calendar bucket of length `seconds` that holds `now`."""
    return bucket_start(seconds, now) + seconds


def sliding_cutoff(seconds: int, now: float) -> float:
    """Events stamped at or before this time are outside the sliding window at `now`."""
    return now - seconds


def sliding_retry_after(
    events: Iterable[tuple[float, Decimal]],
    *,
    held: Decimal,
    amount: Decimal,
    limit: int,
    seconds: int,
    now: float,
) -> float | None:
    """Seconds until `amount` more fits under `limit`, or None when it never will.

    `events` are the window's `(timestamp, amount)` pairs, oldest first, and `held` their
    sum. The oldest events leave first; the answer is when enough of them have left. Zero
    when it fits now; `events` is only iterated (and only as far as needed) when it does not.
    """
    if amount > limit:
        return None
    excess = subtract(add(held, amount), Decimal(limit))
    if excess <= 0:
        return 0.0
    for stamp, event_amount in events:
        excess = subtract(excess, event_amount)
        if excess <= 0:
            return max(stamp + seconds - now, 0.0)
    return None
