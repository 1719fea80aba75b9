"""Invisible and misleading characters, and the skeleton of a name (Unicode TR39). Pure.

What a person reading a tool definition cannot see but a model reads: Unicode tag
characters (U+E0000 block, "ASCII smuggling"), variation selectors used to carry bytes,
zero-width characters, bidirectional overrides and isolates, and terminal control
sequences. Each is reported as a run with its exact span.

A name's *skeleton* folds what looks alike to one form: NFKC (fullwidth and mathematical
letters become ASCII), then every character the Unicode confusables table maps to an
ASCII look-alike (Cyrillic `\u0435` to `e`), then case. Two names with one skeleton look the
same to a person; the table comes from the `confusable-homoglyphs` package (Unicode's
`confusables.txt`), loaded only when a name is not plain ASCII.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Tag characters carry ASCII invisibly: U+E0020..U+E007E are ' '..'~'.
_TAGS = (0xE0000, 0xE007F)
_VARIATION_SUPPLEMENT = (0xE0100, 0xE01EF)
_VARIATION = (0xFE00, 0xFE0F)
_ZERO_WIDTH = frozenset(
    {0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x180E, 0xFEFF}
    | {0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x17B4, 0x17B5}
)
_BIDI_CONTROL = frozenset({*range(0x202A, 0x202F), *range(0x2066, 0x206A)})
_BIDI_MARK = frozenset({0x200E, 0x200F, 0x061C})
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+")
# Characters worth a look at all: a text without any is skipped in one scan.
_SUSPECT = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef"
    "\u061c\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
)


@dataclass(frozen=True, slots=True)
class HiddenRun:
    """A run of invisible or control characters in a text."""

    kind: str  # tags | variation_selectors | zero_width | bidi | control
    start: int
    end: int
    decoded: str = ""  # what tag characters or variation selectors spell, when they do


def _in(code: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= code <= bounds[1]


def _kind_of(char: str) -> str | None:
    code = ord(char)
    if _in(code, _TAGS):
        return "tags"
    if _in(code, _VARIATION_SUPPLEMENT) or _in(code, _VARIATION):
        return "variation_selectors"
    if code in _ZERO_WIDTH:
        return "zero_width"
    if code in _BIDI_CONTROL or code in _BIDI_MARK:
        return "bidi"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return None if char in "\t\n\r" else "control"
    return None


def has_hidden(text: str) -> bool:
    """Whether `text` holds any character `find_hidden_runs` looks at (a fast first pass)."""
    return _SUSPECT.search(text) is not None


def find_hidden_runs(text: str) -> list[HiddenRun]:
    """Every run of hidden characters in `text` that a legitimate text has no use for.

    Left alone: a zero-width joiner or non-joiner between two letters or symbols of a
    script or emoji that needs it, one variation selector after a symbol (an emoji's
    presentation), a byte order mark at the very start, and directional marks in a text
    that holds right-to-left letters.
    """
    if _SUSPECT.search(text) is None:
        return []
    runs: list[HiddenRun] = []
    position, length = 0, len(text)
    has_rtl: bool | None = None
    while position < length:
        kind = _kind_of(text[position])
        if kind is None:
            position += 1
            continue
        end = position + 1
        while end < length and _kind_of(text[end]) == kind:
            end += 1
        run = text[position:end]
        if kind == "bidi" and all(ord(c) in _BIDI_MARK for c in run):
            if has_rtl is None:
                has_rtl = _RTL.search(text) is not None
            if has_rtl:
                position = end
                continue
        if not _legitimate(text, position, end, kind):
            runs.append(HiddenRun(kind, position, end, _decode(run, kind)))
        position = end
    return runs


def _legitimate(text: str, start: int, end: int, kind: str) -> bool:
    if end - start != 1:
        return False
    char = text[start]
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    if kind == "zero_width" and char in "\u200c\u200d":
        # Joiners inside emoji sequences and in scripts that shape letters (Persian, Indic).
        return _joinable(before) and _joinable(after)
    if kind == "variation_selectors" and _in(ord(char), _VARIATION):
        return bool(before) and not before.isascii()
    return char == "\ufeff" and start == 0


def _joinable(char: str) -> bool:
    return bool(char) and not char.isascii() and unicodedata.category(char)[0] in "LSM"


def _decode(run: str, kind: str) -> str:
    if kind == "tags":
        return "".join(chr(ord(c) - 0xE0000) for c in run if 0x20 <= ord(c) - 0xE0000 < 0x7F)
    return ""


def escape_text(text: str, limit: int = 160) -> str:
    """`text` for display: hidden and control characters as `<U+XXXX>`, cut at `limit`."""
    parts: list[str] = []
    size = 0
    for char in text:
        shown = char
        if _kind_of(char) is not None or (
            not char.isascii() and unicodedata.category(char) in ("Cf", "Cc", "Co", "Cn")
        ):
            shown = f"<U+{ord(char):04X}>"
        elif char in "\n\t\r":
            shown = " "
        parts.append(shown)
        size += len(shown)
        if size >= limit:
            parts.append("…")
            break
    return "".join(parts)


@functools.cache
def _ascii_lookalikes() -> dict[str, str]:
    from confusable_homoglyphs import (  # type: ignore[import-untyped]  # noqa: PLC0415
        confusables,  # a large table, loaded once
    )

    table: dict[str, str] = {}
    for char, homoglyphs in confusables.confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in homoglyphs:
            look = glyph.get("c", "")
            if look.isascii() and look.isprintable() and look:
                table[char] = look
                break
    return table


def skeleton(name: str) -> str:
    """The name as it looks: NFKC, confusable characters as their ASCII look-alike, folded.

    Hidden characters are dropped first: `read\\u200bfile` looks like `readfile`.
    """
    visible = "".join(c for c in name if _kind_of(c) is None)
    folded = unicodedata.normalize("NFKC", visible)
    if not folded.isascii():
        table = _ascii_lookalikes()
        folded = "".join(table.get(c, c) for c in folded)
    return folded.casefold()


def scripts_of(name: str) -> set[str]:
    """The scripts of the letters in `name` (first word of each letter's Unicode name)."""
    found: set[str] = set()
    for char in name:
        if char.isascii():
            if char.isalpha():
                found.add("LATIN")
            continue
        if unicodedata.category(char)[0] != "L":
            continue
        found.add(unicodedata.name(char, "UNKNOWN").split(" ", 1)[0])
    return found


def strip_control(text: str) -> str:
    """`text` without control characters (escape sequences), for terminals and comments."""
    return _CONTROL.sub("", text)
