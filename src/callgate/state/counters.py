"""Counter keys, windows and charges: the data a counter store works on (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


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
