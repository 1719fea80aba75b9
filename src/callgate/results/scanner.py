"""Many detectors in one RE2 expression: one linear scan finds them all (pure).

A `Detector` is a kind (the name in a marker or a record), an RE2 pattern and how to read
its match; a `Scanner` joins detectors into one expression with a group each, so a text
is scanned once whatever their number, and a text with no match costs that one scan.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class Detector:
    """One thing to find: `kind`, its RE2 `pattern`, and what of a match is the finding.

    `value_only`: the finding is the pattern's group 1 (the value after a name), not the
    whole match. `accept`, when set, checks a finding further where RE2 cannot
    ((finding, whole text, end of the finding) -> whether it counts).
    """

    kind: str
    pattern: str
    value_only: bool = False
    accept: Callable[[str, str, int], bool] | None = None
    extend: Callable[[str, int], int] | None = None
    """(whole text, end of the match) -> where the finding really ends, for a finding whose
    end RE2 would have to scan far for (a PEM key's END line)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A finding: the detector's kind and where it is in the scanned text."""

    kind: str
    start: int
    end: int


class Scanner:
    """Detectors joined in one expression (build once, scan many texts).

    Two steps: RE2 finds where something matches, one linear scan of the whole text with
    no capturing groups (what keeps it fast: RE2 extracts groups with a slower engine);
    then each place found is told apart, at that place only, by the detectors' own
    expressions (Python's `re`, anchored there) in their order, the first that matches
    being the one RE2's leftmost-first alternation took.
    """

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)
        self.pattern = "|".join(f"(?:{detector.pattern})" for detector in detectors)

    @functools.cached_property
    def _compiled(self) -> tuple[Any, re.Pattern[str], dict[str, tuple[int, Detector]]]:
        """The RE2 expression, the anchored one that tells detectors apart, and which group
        of it is whose finding: compiled at the first scan, so a proxy whose policy guards
        no results never pays for it (about 30 ms at start)."""
        options = re2.Options()
        options.never_capture = True
        expression = re2.compile(self.pattern, options)
        # Which detector matched where RE2 found something: one anchored match of all of
        # them, a named group each (ASCII classes and word boundaries, as RE2 has them).
        parts: list[str] = []
        by_group: dict[str, tuple[int, Detector]] = {}
        group = 0
        for index, detector in enumerate(self.detectors):
            name = f"d{index}"
            parts.append(f"(?P<{name}>{_scoped(detector.pattern)})")
            group += 1
            by_group[name] = (group + 1 if detector.value_only else group, detector)
            group += re.compile(detector.pattern).groups
        return expression, re.compile("|".join(parts), re.ASCII), by_group

    def scan(self, text: str) -> Iterator[Hit]:
        """Every finding in `text`, in order (leftmost first, never overlapping)."""
        # ASCII text is scanned as bytes, whose offsets are then the same: RE2 works on
        # UTF-8, and the binding maps offsets back to characters for a str (slower).
        subject: str | bytes = text.encode() if text.isascii() else text
        expression, identify, by_group = self._compiled
        done = 0
        size = len(text)
        for match in expression.finditer(subject):
            start, end = match.span()
            if start < done:
                continue  # inside a finding that was extended past this match
            # One character past the match: what a trailing \b looks at.
            limit = min(size, end + 1)
            found = identify.match(text, start, limit)
            if found is None or found.lastgroup is None:
                continue
            group, detector = by_group[found.lastgroup]
            first, last = found.span(group)
            if detector.extend is not None:
                last = detector.extend(text, last)
            accept = detector.accept
            if accept is None or accept(text[first:last], text, last):
                yield Hit(detector.kind, first, last)
                done = last


def _scoped(pattern: str) -> str:
    """A leading `(?i)` made to apply to this pattern only (`(?i:...)`)."""
    return f"(?i:{pattern[4:]})" if pattern.startswith("(?i)") else pattern
