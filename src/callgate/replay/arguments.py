"""A recorded call's arguments as the engine reads them: with holes where values were not kept.

An audit record keeps the arguments `full`, `redacted` (secrets replaced, and the JSON
Pointer of every replaced value in `redacted`) or not at all (`hash`). Judging a call
again must not take `"[redacted]"` for what the agent sent, nor guess it. So the
arguments are handed to the engine as read-only views that hold a *hole* at each
redacted pointer: reading a hole (a condition's path, a counter's `increment_from`)
raises `ValueNotRecorded` with its pointer, out of the engine's `evaluate`, and the
caller reports the call as one it cannot tell. A hashed call's arguments are one hole.

The views are what the engine already takes (`Mapping` for objects, `tuple` for lists),
so the engine needs no replay-only code and the live proxy pays nothing: everything
that reads a hole goes through `__getitem__`, `get`, iteration or `in`, which raise;
what does not read it (a key that is absent, the length of a list) answers as recorded.
A hole is only read when the engine needs its value; a condition that reads it makes
the call "cannot tell" even where a later condition of the same `any` would have
decided, because the engine stops at the first raise (never a wrong answer, at most an
unknown more).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, SupportsIndex, overload

from callgate.errors import CallgateError

HASHED: Final = "hashed"
REDACTED: Final = "redacted"


class ValueNotRecorded(CallgateError):  # noqa: N818 - the name says what happened
    """The engine read an argument value the audit record does not hold.

    `pointer` is its JSON Pointer (`""`: the arguments as a whole, not recorded);
    `why` is `redacted` or `hashed`.
    """

    code = "replay.not-recorded"

    def __init__(self, pointer: str, why: str) -> None:
        super().__init__(f"argument value at {pointer or '/'} was {why}")
        self.pointer = pointer
        self.why = why


class _Hole:
    """Where a value was: reading it raises."""

    __slots__ = ("pointer", "why")

    def __init__(self, pointer: str, why: str) -> None:
        self.pointer = pointer
        self.why = why

    def fail(self) -> ValueNotRecorded:
        return ValueNotRecorded(self.pointer, self.why)


def _check(value: Any) -> Any:
    if type(value) is _Hole:
        raise value.fail()
    return value


class HoleyMapping(Mapping[str, Any]):
    """An object of the recorded arguments with holes somewhere below it."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, Any]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        return _check(self._items[key])  # a missing key stays a KeyError (absent as recorded)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"HoleyMapping({self._items!r})"


class HoleyList(tuple[Any, ...]):
    """A list of the recorded arguments with holes somewhere in or below it."""

    __slots__ = ()

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        value = super().__getitem__(index)
        if isinstance(index, slice):
            return tuple(_check(item) for item in value)
        return _check(value)

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            yield _check(item)

    def __contains__(self, wanted: object) -> bool:
        return any(item is wanted or item == wanted for item in self)


class _Unreadable(Mapping[str, Any]):
    """Arguments of which no value can be read: not recorded (hash), or redacted whole."""

    __slots__ = ("_why",)

    def __init__(self, why: str) -> None:
        self._why = why

    def __getitem__(self, key: str) -> Any:
        raise ValueNotRecorded("", self._why)

    def __iter__(self) -> Iterator[str]:
        raise ValueNotRecorded("", self._why)

    def __len__(self) -> int:
        raise ValueNotRecorded("", self._why)

    def __repr__(self) -> str:
        return f"<arguments {self._why}>"


NOT_RECORDED: Final[Mapping[str, Any]] = _Unreadable(HASHED)
"""The arguments of a call whose record kept only their hash."""


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """The reference tokens of a JSON Pointer (RFC 6901); `""` is the whole document."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON Pointer: {pointer!r}")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def with_holes(arguments: Mapping[str, Any], pointers: Sequence[str]) -> Mapping[str, Any]:
    """`arguments` as recorded, with a hole at each pointer (the same object when none).

    A pointer that does not lead to a value of the arguments (a record edited by hand)
    is ignored: there is nothing there to read.
    """
    if not pointers:
        return arguments
    tree: dict[str, Any] = {}  # token -> subtree; a leaf is the pointer string
    for pointer in pointers:
        tokens = parse_pointer(pointer)
        if not tokens:
            return _Unreadable(REDACTED)
        node = tree
        for token in tokens[:-1]:
            child = node.get(token)
            if isinstance(child, str):
                break  # a hole above it already covers this one
            node = node.setdefault(token, {})
        else:
            node[tokens[-1]] = pointer
    return _holed(arguments, tree)  # type: ignore[no-any-return]


def _holed(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, Mapping):
        items = dict(value)
        for token, below in tree.items():
            if token in items:
                items[token] = _placed(items[token], below)
        return HoleyMapping(items)
    if isinstance(value, list | tuple):
        elements = list(value)
        for token, below in tree.items():
            if token.isdigit() and int(token) < len(elements) and str(int(token)) == token:
                elements[int(token)] = _placed(elements[int(token)], below)
        return HoleyList(elements)
    return value


def _placed(value: Any, below: str | dict[str, Any]) -> Any:
    return _Hole(below, REDACTED) if isinstance(below, str) else _holed(value, below)
