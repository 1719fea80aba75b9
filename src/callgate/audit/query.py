"""Which records a query wants (pure: the filter is built once, then asked per line).

A filter keeps records whose `time` is in `[since, until)` and whose fields equal one of
the values asked for (`tool`, `server`, `agent`, `session`, `decision`, `rule`,
`category`; a value with `*`, `?` or `[` is a shell-style pattern). Before a line is
parsed, `may_match` looks for each asked field's `"key":value` text in its bytes: a record
that matches has it (records are written in canonical JSON), so most lines of a large log
are passed over without parsing; `matches` then decides on the parsed record.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callgate.audit.record import format_time

FIELDS = ("tool", "server", "agent", "session", "decision", "rule", "category")
"""The fields a query can select on."""

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN_CHARS = frozenset("*?[")


def parse_time(text: str, now: float) -> str:
    """A time bound in the records' form, from ISO 8601 (UTC unless it says otherwise; a
    date alone is its midnight) or an age before `now` (`90s`, `15m`, `2h`, `7d`, `1w`)."""
    if match := _RELATIVE.match(text):
        return format_time(now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"expected a time such as 2026-11-25, 2026-11-25T08:00 or an age such as 2h, "
            f"got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment.timestamp())


def record_time(record: Mapping[str, Any]) -> str:
    """A record's time (`time`, else an old approval event's `at`); "" when it has none."""
    time = record.get("time")
    if isinstance(time, str):
        return time
    at = record.get("at")
    if isinstance(at, int | float) and not isinstance(at, bool):
        return format_time(float(at))
    return ""


@dataclass(frozen=True)
class RecordFilter:
    """What a query keeps; an empty filter keeps everything."""

    since: str | None = None
    until: str | None = None
    values: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Field -> the values (or patterns) accepted; fields not named are not checked."""
    _needles: tuple[tuple[bytes, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.values) - set(FIELDS)
        if unknown:
            raise ValueError(f"cannot filter on {', '.join(sorted(unknown))}")
        needles = []
        for name, accepted in self.values.items():
            if any(_PATTERN_CHARS & set(value) for value in accepted):
                continue  # a pattern: no fixed text to look for
            needles.append(
                tuple(
                    f'"{name}":{json.dumps(value, ensure_ascii=False)}'.encode()
                    for value in accepted
                )
            )
        object.__setattr__(self, "_needles", tuple(needles))

    @property
    def selects(self) -> bool:
        """Whether the filter drops anything."""
        return bool(self.since or self.until or self.values)

    def may_match(self, line: bytes) -> bool:
        """False when the line's record cannot match (cheap: no parsing)."""
        return all(any(needle in line for needle in needles) for needles in self._needles)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether the parsed record is one the query wants."""
        if self.since is not None or self.until is not None:
            time = record_time(record)
            if self.since is not None and time < self.since:
                return False
            if self.until is not None and time >= self.until:
                return False
        for name, accepted in self.values.items():
            value = record.get(name)
            if not isinstance(value, str) or not any(
                value == wanted or fnmatch.fnmatchcase(value, wanted) for wanted in accepted
            ):
                return False
        return True

    def spans(self, first: str, last: str) -> bool:
        """Whether records timed from `first` to `last` can fall in the time range."""
        if self.since is not None and last and last < self.since:
            return False
        return not (self.until is not None and first and first >= self.until)
