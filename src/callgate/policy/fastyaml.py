"""YAML text → plain data and key positions, with libyaml's C parser (when installed).

ruamel.yaml's round-trip loader (the reference, in `callgate.policy.loader`) parses in pure
Python: about 7 ms per tool entry, so a 5,000-tool policy took half a minute to load. Here
libyaml (through PyYAML's C parser) builds the node tree with marks, and the scalars are
resolved with ruamel's YAML 1.2 rules (`yes` stays a string, `1_000` is an int), so the
data is the same as ruamel's; duplicate keys are refused with their position and merge
keys (`<<`) are honoured. `tests/policy/test_fastyaml.py` checks both give the same data
and positions.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError
from ruamel.yaml.nodes import ScalarNode as RuamelScalar

from callgate.errors import IssueCode, PolicyError, PolicyIssue
from callgate.policy.source import Loc

AVAILABLE: bool = bool(getattr(yaml, "__with_libyaml__", False))
_PLAIN = "?plain"
_MERGE = "<<"
_STR = "tag:yaml.org,2002:str"
_RUAMEL = YAML(typ="safe", pure=True)


class _Loader(yaml.CSafeLoader if AVAILABLE else yaml.SafeLoader):  # type: ignore[misc]
    """Marks plain scalars so that they are resolved with YAML 1.2 rules, not PyYAML's 1.1."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


def parse(text: str, file: str) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    """The document's plain data and the 1-based (line, column) of every key and item."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise PolicyError([_issue(exc, file)]) from exc
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyIssue(IssueCode.YAML_SYNTAX, str(exc), file, 1, 1)]) from exc
    positions: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    if root is None:
        return None, positions
    return _Builder(file, positions).plain(root, (), set()), positions


def _issue(exc: yaml.MarkedYAMLError, file: str) -> PolicyIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = ", ".join(part for part in (exc.problem, exc.context) if part) or "invalid YAML"
    return PolicyIssue(
        IssueCode.YAML_SYNTAX,
        message,
        file,
        line,
        column,
        hint="check indentation, quotes and brackets around here",
    )


class _Builder:
    def __init__(self, file: str, positions: dict[Loc, tuple[int, int]]) -> None:
        self.file = file
        self.positions = positions

    def fail(self, node: yaml.Node, code: str, message: str, hint: str) -> PolicyError:
        mark = node.start_mark
        return PolicyError(
            [PolicyIssue(code, message, self.file, mark.line + 1, mark.column + 1, hint=hint)]
        )

    def plain(self, node: yaml.Node, loc: Loc, active: set[int]) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if id(node) in active:
            raise self.fail(
                node, IssueCode.YAML_SYNTAX, "an alias refers to itself", "remove the cycle"
            )
        active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    mark = item.start_mark
                    self.positions[(*loc, index)] = (mark.line + 1, mark.column + 1)
                    items.append(self.plain(item, (*loc, index), active))
                return items
            return self.mapping(cast("yaml.MappingNode", node), loc, active)
        finally:
            active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, loc: Loc, active: set[int]) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: list[tuple[dict[Any, Any], dict[Any, tuple[int, int]]]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(
                    key_node, IssueCode.YAML_SYNTAX, "a key must be a plain value", "use a name"
                )
            if key_node.tag == _PLAIN and key_node.value == _MERGE:
                merged.extend(self.merge_sources(value_node, loc, active))
                continue
            key = _scalar(key_node)
            try:
                duplicate = key in result
            except TypeError:  # an unhashable key cannot be a policy key anyway
                raise self.fail(
                    key_node, IssueCode.YAML_SYNTAX, "a key must be a plain value", "use a name"
                ) from None
            if duplicate:
                raise self.fail(
                    key_node,
                    IssueCode.DUPLICATE_KEY,
                    f'found duplicate key "{key}"',
                    "each key may appear once in a mapping",
                )
            mark = key_node.start_mark
            self.positions[(*loc, key)] = (mark.line + 1, mark.column + 1)
            result[key] = self.plain(value_node, (*loc, key), active)
        for source, places in merged:  # explicit keys win, then earlier merges over later
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    if key in places:
                        self.positions[(*loc, key)] = places[key]
        return result

    def merge_sources(
        self, node: yaml.Node, loc: Loc, active: set[int]
    ) -> list[tuple[dict[Any, Any], dict[Any, tuple[int, int]]]]:
        """The mappings `<<` merges in, each with the positions of its keys."""
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for item in nodes:
            value = _Builder(self.file, {}).plain(item, (), active)
            if not isinstance(value, dict) or not isinstance(item, yaml.MappingNode):
                raise self.fail(
                    item, IssueCode.YAML_SYNTAX, "<< merges only mappings", "merge a mapping"
                )
            places = {
                _scalar(key): (key.start_mark.line + 1, key.start_mark.column + 1)
                for key, _ in item.value
                if isinstance(key, yaml.ScalarNode)
            }
            sources.append((value, places))
        return sources


_PLAIN_VALUES: dict[str, Any] = {}
_PLAIN_CACHE_SIZE = 65_536


def _scalar(node: yaml.ScalarNode) -> Any:
    """The value of a scalar node, resolved as ruamel resolves YAML 1.2."""
    value = node.value
    tag = node.tag
    if tag == _PLAIN:
        # Keys and values repeat ("name", "path", "lte"); ruamel's resolver is slow, and the
        # results (str, int, float, bool, None, date) are immutable, so they are shared.
        if value in _PLAIN_VALUES:
            return _PLAIN_VALUES[value]
        if len(_PLAIN_VALUES) >= _PLAIN_CACHE_SIZE:
            _PLAIN_VALUES.clear()
        tag = str(_RUAMEL.resolver.resolve(RuamelScalar, value, (True, False)))
        _PLAIN_VALUES[value] = resolved = _construct(tag, value)
        return resolved
    return _construct(tag, value)


def _construct(tag: str, value: str) -> Any:
    if tag == _STR:
        return value
    build = _RUAMEL.constructor.yaml_constructors.get(tag)
    if build is None:
        return value
    try:
        result = build(_RUAMEL.constructor, RuamelScalar(tag, value))
    except (ConstructorError, ValueError):
        return value
    if isinstance(result, bool) or result is None:
        return result
    if isinstance(result, int):
        return int(result)
    if isinstance(result, float):
        return float(result)
    return result
