"""Condition paths: parsed once at compile time, walked per call.

Grammar (keys are case-sensitive)::

    path     := root segment+
    root     := "args" | "state" | "agent"
    segment  := "." key            any characters but . [ ] (non-empty)
              | "[" index "]"      a list index: 0, 1, 2, ... (no sign, no leading zeros)
              | "[*]"              every element of a list
              | '["' quoted '"]'   a key that holds dots or brackets (\\" and \\\\ escape)

Intercept's paths are the dotted subset (`args.amount`, `args.metadata.key`,
`state.<tool>.<counter>`); each dotted segment is an object key there and here, so a
dotted number (`args.items.0`) is a key, never an index. callgate adds indexes,
wildcards, quoted keys and the `agent.` root.

- `args.` paths read the call's arguments; the first segment is a key.
- `state.<tool>.<counter>` reads a counter; Intercept splits at the first two dots, so
  `state.a.b.c` is tool `a`, counter `b.c`. A tool name with a dot is written quoted:
  `state["github.create_issue"].count`.
- `agent.name` and `agent.roles` read the calling agent.

Walking a path never raises: a missing key, an index past the end, a key looked up in a
non-object or an index in a non-list (strings are not lists) all give `MISSING`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from callgate.errors import IssueCode

WILDCARD: Final = "*"
ROOTS: Final = ("args", "state", "agent")
AGENT_FIELDS: Final = ("name", "roles")

Segment = str | int


class _Missing:
    """The type of `MISSING`; falsy so it reads naturally, never equal to a real value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


class ConditionError(ValueError):
    """A condition a policy author must fix: bad path, unknown operator or unusable value.

    Raised at compile time only; `hint` says what to write instead, `code` is stable.
    """

    code: str = IssueCode.INVALID_CONDITION

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


_KEY = re.compile(r"[^.\[\]]+")
_INDEX = re.compile(r"0|[1-9][0-9]*")


def parse_path(path: str) -> tuple[str, tuple[Segment, ...]]:
    """Split `path` into its root and segments (`"*"` for `[*]`); raise ConditionError."""
    if not isinstance(path, str):
        raise ConditionError(
            f"a path must be a string, got {type(path).__name__}",
            "write it like args.amount or state.<tool>.<counter>",
        )
    root = path.partition(".")[0]
    root = root.partition("[")[0]
    if root not in ROOTS:
        raise ConditionError(
            f"path {path!r} must start with args., state. or agent.",
            "e.g. args.amount, args.items[0].id, state.create_charge.daily_spend, agent.name",
        )
    segments = _parse_segments(path, len(root))
    if not segments:
        raise ConditionError(f"path {path!r} names no field", f"write {root}.<field>")
    if root == "args":
        if not isinstance(segments[0], str) or segments[0] == WILDCARD:
            raise ConditionError(
                f"path {path!r}: the arguments are an object, so the first segment is a key",
                "write args.<field> or args.<field>[0]",
            )
        return root, segments
    if root == "state":
        return root, _state_segments(path, segments)
    return root, _agent_segments(path, segments)


def _parse_segments(path: str, start: int) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    at = start
    end = len(path)
    while at < end:
        char = path[at]
        if char == ".":
            match = _KEY.match(path, at + 1)
            if match is None:
                raise ConditionError(
                    f"path {path!r} has an empty segment at character {at + 1}",
                    'remove the extra dot, or quote a key that is not a plain name: ["a.b"]',
                )
            key = match.group()
            if key == WILDCARD:
                raise ConditionError(
                    f"path {path!r}: '.*' is not a wildcard here",
                    "write [*] for every element of a list",
                )
            segments.append(key)
            at = match.end()
        elif char == "[":
            if path[at + 1 : at + 2] in ('"', "'"):
                key, at = _parse_quoted(path, at + 1)
                segments.append(key)
                continue
            close = path.find("]", at)
            if close < 0:
                raise ConditionError(f"path {path!r} has an unclosed '['", "close it with ']'")
            segments.append(_parse_index(path, path[at + 1 : close]))
            at = close + 1
        else:
            raise ConditionError(
                f"path {path!r}: unexpected {char!r} at character {at + 1}",
                "separate segments with '.' or '[...]'",
            )
    return tuple(segments)


def _parse_index(path: str, inner: str) -> Segment:
    if inner == WILDCARD:
        return WILDCARD
    if _INDEX.fullmatch(inner):
        return int(inner)
    if inner.startswith("-") and inner[1:].isdigit():
        raise ConditionError(
            f"path {path!r}: negative index [{inner}]",
            "indexes count from 0 at the start; use [*] to check every element",
        )
    raise ConditionError(
        f"path {path!r}: [{inner}] is not an index",
        'write [0], [1], ... for an element, [*] for every element, ["key"] for a key',
    )


def _parse_quoted(path: str, at: int) -> tuple[str, int]:
    """Read a quoted key starting at the quote at `at`; return it and the index after ']'."""
    quote = path[at]
    chars: list[str] = []
    at += 1
    while at < len(path):
        char = path[at]
        if char == "\\" and at + 1 < len(path) and path[at + 1] in (quote, "\\"):
            chars.append(path[at + 1])
            at += 2
            continue
        if char == quote:
            if path[at + 1 : at + 2] != "]":
                break
            if not chars or chars == [WILDCARD]:
                raise ConditionError(
                    f"path {path!r}: a quoted key must be a name other than '*'",
                    "write [*] for every element of a list",
                )
            return "".join(chars), at + 2
        chars.append(char)
        at += 1
    raise ConditionError(
        f"path {path!r} has an unclosed quoted key",
        f"write [{quote}key{quote}] with the quote and ']' closing it",
    )


def _state_segments(path: str, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    if len(segments) < 2 or any(not isinstance(s, str) or s == WILDCARD for s in segments):
        raise ConditionError(
            f"path {path!r}: a state path names a tool and a counter",
            "write state.<tool>.<counter>, or state._global.<counter> for '*' rules",
        )
    tool = segments[0]
    counter = ".".join(str(s) for s in segments[1:])
    return (tool, counter)


def _agent_segments(path: str, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    if len(segments) != 1 or segments[0] not in AGENT_FIELDS:
        raise ConditionError(
            f"path {path!r}: the agent has only a name and roles",
            "write agent.name or agent.roles",
        )
    return segments


Resolver = Callable[[Any], Any]


def compile_walk(segments: tuple[Segment, ...]) -> Resolver:
    """A function that follows wildcard-free `segments` from a value, or gives MISSING."""
    if not segments:
        return _identity
    if len(segments) == 1 and isinstance(segments[0], str):
        key = segments[0]

        def walk_key(value: Any) -> Any:
            if type(value) is dict or isinstance(value, Mapping):
                return value.get(key, MISSING)
            return MISSING

        return walk_key

    if all(isinstance(segment, str) for segment in segments):
        keys = segments

        def walk_keys(value: Any) -> Any:
            # Only objects can be indexed by a string key: a list, a string or a number
            # raises TypeError, a missing key KeyError, so one try covers every miss.
            try:
                for key in keys:
                    value = value[key]
            except (KeyError, TypeError):
                return MISSING
            return value

        return walk_keys

    steps = segments

    def walk(value: Any) -> Any:
        for step in steps:
            if isinstance(step, str):
                if not (type(value) is dict or isinstance(value, Mapping)):
                    return MISSING
                value = value.get(step, MISSING)
                if value is MISSING:
                    return MISSING
            elif type(value) is list or isinstance(value, tuple):
                if step >= len(value):
                    return MISSING
                value = value[step]
            else:
                return MISSING
        return value

    return walk


def _identity(value: Any) -> Any:
    return value


def split_wildcards(segments: tuple[Segment, ...]) -> tuple[tuple[Segment, ...], ...]:
    """Cut `segments` at each wildcard: `a[*].b[*].c` gives `(a,) (b,) (c,)`."""
    chunks: list[tuple[Segment, ...]] = []
    current: list[Segment] = []
    for segment in segments:
        if segment == WILDCARD:
            chunks.append(tuple(current))
            current = []
        else:
            current.append(segment)
    chunks.append(tuple(current))
    return tuple(chunks)
