"""Instructions aimed at the model inside tool results (pure).

A tool result is data for the model to read, yet a page, an issue or a file it fetched may
address the model itself. The patterns are few and precise: each names a move that data
has no business making, so a result that matches one deserves a look.

    kind                  what it matches
    ignore_instructions   "ignore (all) previous instructions", "disregard the above
                          rules", "forget your prior prompts", ...
    hidden_block          a tag addressed to the model: <IMPORTANT>, <system>,
                          <instructions>, <admin> (opening or closing)
    tool_directive        "you must now call the X tool", "you need to first invoke the
                          function X", "the assistant must run the tool X"
    conceal_from_user     "do not tell the user", "don't mention this to the user",
                          "never reveal it to the user"
    invisible_unicode     Unicode tag characters (U+E0000 to U+E007F), which a model reads
                          and a person does not see; the tags of a subdivision flag emoji
                          (England, Scotland, Wales) are not counted

All but the last are matched case-insensitively in one scan (`callgate.results.scanner`);
the tag characters are looked for only in texts that are not ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from callgate.results.scanner import Detector, Hit, Scanner

_ACTOR = r"(?:you|the\s+(?:assistant|ai|model|agent)|assistant)"

PATTERNS: Final[tuple[Detector, ...]] = (
    Detector(
        "ignore_instructions",
        "(?i)"
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:of\s+)?"
        r"(?:the\s+|your\s+|my\s+)?(?:previous|prior|above|earlier|preceding|system|original)"
        r"\s+(?:instructions?|prompts?|rules|directions|directives|guidelines)\b",
    ),
    Detector("hidden_block", r"(?i)<\s*/?\s*(?:important|system|instructions?|admin)\s*>"),
    Detector(
        "tool_directive",
        rf"(?i)\b{_ACTOR}\s+(?:must|need\s+to|have\s+to|are\s+required\s+to)\s+"
        r"(?:now\s+|first\s+|immediately\s+|also\s+)*(?:call|invoke|use|run|execute)\s+"
        r"(?:the\s+)?(?:(?:tool|function)\s+[\w.:/-]+|[\w.:/-]+\s+(?:tool|function))\b",
    ),
    Detector(
        "conceal_from_user",
        r"(?i)\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention|reveal|show|disclose)\s+"
        r"(?:(?:this|that|it|anything)\s+)?(?:to\s+)?the\s+user\b",
    ),
)

_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_WAVING_FLAG = "\U0001f3f4"
_CANCEL_TAG = "\U000e007f"


INJECTION: Final = Scanner(PATTERNS)
"""Every pattern in `PATTERNS`, in one expression."""


def count_hits(hits: Iterable[Hit], text: str) -> dict[str, int]:
    """The hits counted by kind, with the hidden tag characters of `text` added."""
    found: dict[str, int] = {}
    for hit in hits:
        found[hit.kind] = found.get(hit.kind, 0) + 1
    if not text.isascii():
        hidden = _hidden_tags(text)
        if hidden:
            found["invisible_unicode"] = hidden
    return found


def _hidden_tags(text: str) -> int:
    """Runs of tag characters that are not part of a subdivision flag emoji."""
    count = 0
    for run in _TAGS.finditer(text):
        start = run.start()
        flag = (
            start > 0
            and text[start - 1] == _WAVING_FLAG
            and run.group().endswith(_CANCEL_TAG)
            and len(run.group()) <= 7
        )
        if not flag:
            count += 1
    return count


def find_injection(text: str) -> dict[str, int]:
    """The instructions aimed at the model in `text`, counted by kind (empty: none)."""
    return count_hits(INJECTION.scan(text), text)
