"""Where each node of a policy file came from, so every issue can say file:line:column."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from callgate.errors import PolicyIssue

Loc = tuple[str | int, ...]


def render_loc(loc: Loc) -> str:
    """`tools.create_issue.rules[0].name` from `("tools", "create_issue", "rules", 0, "name")`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def suggest(word: str, choices: Iterable[str]) -> str:
    """A "did you mean" hint for a misspelt key or name, or "" when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Positions of keys and list items in one policy file (1-based line and column)."""

    file: str = "<policy>"
    positions: Mapping[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc) -> tuple[int, int]:
        """The position of `loc`, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(loc[:end])
            if found is not None:
                return found
        return (1, 1)

    def issue(self, code: str, loc: Loc, message: str, hint: str = "") -> PolicyIssue:
        """A `PolicyIssue` placed at `loc`."""
        line, column = self.position(loc)
        return PolicyIssue(
            code=code,
            message=message,
            file=self.file,
            line=line,
            column=column,
            key=render_loc(loc),
            hint=hint,
        )
