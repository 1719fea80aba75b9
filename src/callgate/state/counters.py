"""Counter keys, windows and charges: the data a counter store works on (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple


class Scope(StrEnum):
    """Whose calls share a counter."""

    SESSION = "session"
    AGENT = "agent"
    GLOBAL = "global"


class WindowKind(StrEnum):
    """How a window moves.

    `SLIDING`: the last `seconds` before now (rate limits: never more than N in any interval).
    `CALENDAR`: aligned to UTC minute/hour/day boundaries (Intercept `state` counters).
    """

    SLIDING = "sliding"
    CALENDAR = "calendar"


@dataclass(frozen=True, slots=True)
class Window:
    """A counting window: sliding over `seconds`, or a calendar bucket of that length."""

    kind: WindowKind
    seconds: int


@dataclass(frozen=True, slots=True)
class CounterKey:
    """A counter's identity in a store.

    `server` is the upstream server name; `scope_key` is the session id, agent name or `"*"`
    by scope; `name` is the counter's policy name (`"create_charge.spend"`, `"_global.calls"`,
    or `"rate:<rule>"` for a rate limit).
    """

    server: str
    scope: Scope
    scope_key: str
    name: str
    window: Window
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # Keys are looked up in dicts on every call; hashing five fields (two of them enums,
        # whose hash is Python code) each time costs more than the lookup itself.
        key = (self.server, self.scope.value, self.scope_key, self.name, self.window)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def render(self) -> str:
        """One stable string for the key, used by every backend."""
        return (
            f"{self.server}|{self.scope.value}:{self.scope_key}|{self.name}"
            f"|{self.window.kind.value}:{self.window.seconds}"
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """One thing to reserve for an allowed call.

    For a rate limit: `amount` is 1 and `limit` is the most events allowed in the window
    (the reservation fails when it would exceed it). For a counter: `amount` is added and
    `limit` is None. `rule` names the policy rule the charge comes from.
    """

    key: CounterKey
    amount: Decimal
    rule: str
    limit: int | None = None


class Guard(NamedTuple):
    """The range a counter must still be in for a decision to stand.

    A decision depends on a counter only through the conditions that read it; each
    condition holds (or fails) for every value on one side of its threshold, so the
    decision stands while the counter stays inside `low`..`high` (None: unbounded; an
    `*_open` end excludes the bound itself). The engine builds guards from the values it
    judged with; a store refuses a reservation whose guard no longer admits the counter.
    (A named tuple: the engine builds some per call, three times cheaper than a dataclass.)
    """

    low: Decimal | None = None
    low_open: bool = False
    high: Decimal | None = None
    high_open: bool = False

    @classmethod
    def exactly(cls, value: Decimal) -> Guard:
        """A guard admitting only `value` (conditions other than lt/lte/gt/gte)."""
        return cls(low=value, high=value)

    def admits(self, value: Decimal) -> bool:
        """True when the counter's `value` keeps the decision as it was made."""
        low, high = self.low, self.high
        if low is not None and (value < low or (self.low_open and value == low)):
            return False
        return high is None or not (value > high or (self.high_open and value == high))

    def below(self, bound: Decimal, *, inclusive: bool) -> Guard:
        """This guard narrowed to values below `bound` (or equal when `inclusive`)."""
        high = self.high
        if high is not None and (high < bound or (high == bound and self.high_open)):
            return self
        return Guard(self.low, self.low_open, bound, not inclusive)

    def above(self, bound: Decimal, *, inclusive: bool) -> Guard:
        """This guard narrowed to values above `bound` (or equal when `inclusive`)."""
        low = self.low
        if low is not None and (low > bound or (low == bound and self.low_open)):
            return self
        return Guard(bound, not inclusive, self.high, self.high_open)

    def within(self, other: Guard) -> Guard:
        """The values both guards admit."""
        guard = self
        if other.high is not None:
            guard = guard.below(other.high, inclusive=not other.high_open)
        if other.low is not None:
            guard = guard.above(other.low, inclusive=not other.low_open)
        return guard


UNGUARDED = Guard()
"""A guard that admits every value (the start of a conjunction)."""
