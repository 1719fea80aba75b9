"""Many detectors in one RE2 expression: one linear scan finds them all (pure).

A `Detector` is a kind (the name in a marker or a record), an RE2 pattern and how to read
its match; a `Scanner` joins detectors into one expression with a group each, so a text
is scanned once whatever their number, and a text with no match costs that one scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

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
    """Detectors joined in one expression (build once, scan many texts)."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        parts: list[str] = []
        groups: list[tuple[int, int, Detector]] = []
        group = 1
        for detector in detectors:
            own = re2.compile(detector.pattern).groups
            parts.append(f"({detector.pattern})")
            groups.append((group, group + 1 if detector.value_only else group, detector))
            group += 1 + own
        self.detectors = tuple(detectors)
        self.pattern = "|".join(parts)
        self.expression = re2.compile(self.pattern)
        self._groups = tuple(groups)

    def scan(self, text: str) -> Iterator[Hit]:
        """Every finding in `text`, in order (leftmost first, never overlapping)."""
        # ASCII text is scanned as bytes, whose offsets are then the same: RE2 works on
        # UTF-8, and the binding maps offsets back to characters for a str (slower).
        subject: str | bytes = text.encode() if text.isascii() else text
        done = 0
        for match in self.expression.finditer(subject):
            for whole, value, detector in self._groups:
                if match.span(whole)[0] < 0:
                    continue
                start, end = match.span(value)
                if start < done:
                    break  # inside a finding that was extended past this match
                if detector.extend is not None:
                    end = detector.extend(text, end)
                accept = detector.accept
                if accept is None or accept(text[start:end], text, end):
                    yield Hit(detector.kind, start, end)
                    done = end
                break
