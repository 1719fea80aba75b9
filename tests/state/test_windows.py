"""Window arithmetic: calendar buckets on UTC boundaries and exact sliding retry-after."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from callgate.state.windows import bucket_end, bucket_start, sliding_retry_after

SECONDS = st.sampled_from([1, 10, 60, 3_600, 86_400])
TIMES = st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False, allow_infinity=False)


@given(seconds=SECONDS, now=TIMES)
def test_bucket_holds_now_and_is_aligned(seconds: int, now: float) -> None:
    start, end = bucket_start(seconds, now), bucket_end(seconds, now)
    assert start <= now < end
    assert end - start == seconds
    assert start % seconds == 0


@given(now=TIMES)
def test_day_and_hour_buckets_start_on_utc_boundaries(now: float) -> None:
    moment = datetime.fromtimestamp(now, UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    assert bucket_start(86_400, now) == midnight.timestamp()
    assert bucket_start(3_600, now) == hour.timestamp()


TOLERANCE = 1e-5
AMOUNTS = st.integers(min_value=1, max_value=3).map(Decimal)


@given(
    seconds=SECONDS,
    limit=st.integers(min_value=1, max_value=10),
    offsets=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), max_size=15),
    amounts=st.lists(AMOUNTS, min_size=15, max_size=15),
    amount=AMOUNTS,
    now=TIMES,
)
def test_retry_after_is_the_earliest_moment_the_charge_fits(
    seconds: int,
    limit: int,
    offsets: list[float],
    amounts: list[Decimal],
    amount: Decimal,
    now: float,
) -> None:
    # Events spread over the window, oldest first (offset 0 is just inside it).
    stamps = sorted(now - seconds * (1 - offset) + 1e-3 for offset in offsets)
    events = [(stamp, amounts[index]) for index, stamp in enumerate(stamps) if stamp <= now]

    def fits_at(moment: float) -> bool:
        held = sum((a for stamp, a in events if stamp > moment - seconds), Decimal(0))
        return held + amount <= limit

    held = sum((a for _, a in events), Decimal(0))
    wait = sliding_retry_after(
        events, held=held, amount=amount, limit=limit, seconds=seconds, now=now
    )
    if amount > limit:
        assert wait is None
        return
    assert wait is not None
    # Capacity only grows as time passes, so the earliest fitting moment is `now + wait`
    # when it fits just after that and not just before (float rounding: a few ulps).
    assert fits_at(now + wait + TOLERANCE)
    if wait > TOLERANCE:
        assert not fits_at(now + wait - TOLERANCE)
    else:
        assert wait == 0
        assert fits_at(now)


def test_retry_after_counts_only_what_must_leave() -> None:
    events = [(100.0, Decimal(1)), (110.0, Decimal(1)), (120.0, Decimal(1))]

    def wait(amount: int, limit: int) -> float | None:
        return sliding_retry_after(
            events, held=Decimal(3), amount=Decimal(amount), limit=limit, seconds=60, now=130.0
        )

    assert wait(amount=1, limit=3) == 30.0
    assert wait(amount=2, limit=3) == 40.0
    assert wait(amount=1, limit=4) == 0.0
    assert wait(amount=5, limit=4) is None
