"""Which policy entries apply to a tool name: the match precedence, in one pure function.

The rule, from most to least specific:

1. **the tool's entry**: the entry whose key is the exact tool name; when there is none,
   the matching *pattern* entry (`delete_*`, `*_prod`) with the **longest** key; between
   patterns of equal length, the one with more literal characters, then the one that
   sorts first. Only one of these applies: an exact entry shadows every pattern.
2. **the category entry** under `categories:` for the tool's risk category: the entry's own
   `category:` when it sets one, otherwise the classifier's category.
3. **the flag entries** under `flags:`, one for each flag the tool has: the entry's own
   `flags:` when it sets them (`[]` says none), otherwise the classifier's flags. They come
   in the order the `flags:` block lists them (file order), whatever the order of the
   tool's flags, so the author decides which flag's rules speak first.
4. **the `"*"` entry**, whose rules apply to every call (Intercept's wildcard).

The rules of the selected entries are evaluated in that order, so the tool's own rules speak
first. Only a tool's entry (1) "lists" a tool for `default: deny`; a category, flag or `"*"`
entry never lets an unlisted tool through.

In a pattern `*` matches any run of characters (also none); every other character is literal.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

WILDCARD = "*"


class EntryKind(StrEnum):
    """Where an applicable entry came from."""

    TOOL = "tool"
    PATTERN = "pattern"
    CATEGORY = "category"
    FLAG = "flag"
    WILDCARD = "wildcard"


class Categorized(Protocol):
    """An entry that may override the tool's category and flags."""

    @property
    def category(self) -> str | None: ...

    @property
    def flags(self) -> tuple[str, ...] | None: ...


E = TypeVar("E", bound=Categorized)


@dataclass(frozen=True, slots=True)
class ToolPattern:
    """A compiled tool-name pattern such as `delete_*`."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, text: str) -> ToolPattern:
        """Compile `text`, where `*` matches any run of characters."""
        body = ".*".join(re.escape(part) for part in text.split("*"))
        return cls(text, re.compile(body, re.DOTALL))

    def matches(self, name: str) -> bool:
        """True when the whole of `name` matches."""
        return self.regex.fullmatch(name) is not None

    @property
    def precedence(self) -> tuple[int, int, str]:
        """Sort key: longer first, then more literal characters, then alphabetical."""
        return (-len(self.text), -len(self.text.replace("*", "")), self.text)


def is_pattern(key: str) -> bool:
    """True for a pattern key (`delete_*`); `"*"` itself is the wildcard entry, not a pattern."""
    return key != WILDCARD and "*" in key


def order_patterns(patterns: Sequence[tuple[ToolPattern, E]]) -> tuple[tuple[ToolPattern, E], ...]:
    """Patterns in precedence order: the first that matches a name is that name's entry."""
    return tuple(sorted(patterns, key=lambda item: item[0].precedence))


@dataclass(frozen=True, slots=True)
class Applicable(Generic[E]):
    """One entry that applies to a call: its kind, its key in the policy, and the entry."""

    kind: EntryKind
    key: str
    entry: E


def select_entries(
    tool: str,
    category: str | None,
    flags: Collection[str] = (),
    *,
    exact: Mapping[str, E],
    patterns: Sequence[tuple[ToolPattern, E]],
    categories: Mapping[str, E],
    by_flag: Mapping[str, E] | None = None,
    wildcard: E | None,
) -> tuple[Applicable[E], ...]:
    """The entries that apply to `tool`, most specific first (see the module docstring).

    `patterns` must be in `order_patterns` order; `category` and `flags` are the
    classifier's, overridden by the tool entry's own `category:` and `flags:`; `by_flag`
    holds the flag entries in file order.
    """
    selected: list[Applicable[E]] = []
    own = exact.get(tool)
    if own is not None:
        selected.append(Applicable(EntryKind.TOOL, tool, own))
    else:
        for pattern, entry in patterns:
            if pattern.matches(tool):
                own = entry
                selected.append(Applicable(EntryKind.PATTERN, pattern.text, entry))
                break
    if own is not None and own.category is not None:
        category = own.category
    if category is not None:
        by_category = categories.get(category)
        if by_category is not None:
            selected.append(Applicable(EntryKind.CATEGORY, category, by_category))
    if by_flag:
        if own is not None and own.flags is not None:
            flags = own.flags
        selected.extend(
            Applicable(EntryKind.FLAG, flag, entry)
            for flag, entry in by_flag.items()
            if flag in flags
        )
    if wildcard is not None:
        selected.append(Applicable(EntryKind.WILDCARD, WILDCARD, wildcard))
    return tuple(selected)
