"""What a tool says about itself: its definition as the server listed it, read defensively. Pure.

A server's `tools/list` entry is untrusted input: any field may be missing, of the wrong
type or very long. `read_definition` turns it into plain values a card can show and a
recommendation can reason about, without guessing beyond what the server sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A summary is the description's first sentences up to about this many characters.
SUMMARY_CHARS = 280
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One top-level property of the tool's input schema."""

    name: str
    types: tuple[str, ...]
    required: bool
    description: str = ""
    item_types: tuple[str, ...] = ()
    format: str = ""

    @property
    def type_text(self) -> str:
        """The JSON type as a reader writes it: `string`, `array of string`, `string | null`."""
        if not self.types:
            return "any"
        parts = [
            f"array of {' | '.join(self.item_types)}"
            if kind == "array" and self.item_types
            else kind
            for kind in self.types
        ]
        return " | ".join(parts)

    @property
    def is_list(self) -> bool:
        """Declared as an array (or null): conditions read its elements."""
        return "array" in self.types and set(self.types) <= {"array", "null"}

    def holds(self, kind: str) -> bool:
        """Whether its values (a list's elements) may be of JSON type `kind` (untyped: any).

        `number` includes `integer`.
        """
        kinds = self.item_types if self.is_list else self.types
        return not kinds or kind in kinds or (kind == "number" and "integer" in kinds)


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool as its server describes it: name, words, parameters and annotations."""

    name: str
    title: str
    description: str
    parameters: tuple[Parameter, ...]
    annotations: tuple[tuple[str, Any], ...]
    has_schema: bool

    @property
    def summary(self) -> str:
        """The description's first sentences, whitespace folded, about `SUMMARY_CHARS` long."""
        return summarize(self.description)

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called `name`, if the schema has one."""
        return next((p for p in self.parameters if p.name == name), None)


def read_definition(tool: Mapping[str, Any]) -> ToolDefinition:
    """Read a `tools/list` entry (wire form, camelCase keys) into a `ToolDefinition`."""
    schema = tool.get("inputSchema")
    annotations = tool.get("annotations")
    title = tool.get("title")
    if not isinstance(title, str) and isinstance(annotations, Mapping):
        title = annotations.get("title")
    return ToolDefinition(
        name=str(tool.get("name", "")),
        title=title if isinstance(title, str) else "",
        description=_text(tool.get("description")),
        parameters=_parameters(schema),
        annotations=tuple((str(key), value) for key, value in annotations.items() if key != "title")
        if isinstance(annotations, Mapping)
        else (),
        has_schema=isinstance(schema, Mapping),
    )


def summarize(description: str, limit: int = SUMMARY_CHARS) -> str:
    """The first paragraph's leading sentences, cut at a word near `limit` characters."""
    paragraph = description.strip().split("\n\n", 1)[0]
    text = " ".join(paragraph.split())
    if len(text) <= limit:
        return text
    summary = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{summary} {sentence}".strip()
        if len(candidate) > limit:
            break
        summary = candidate
    if summary:
        return summary
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _parameters(schema: object) -> tuple[Parameter, ...]:
    if not isinstance(schema, Mapping):
        return ()
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    required = schema.get("required")
    needed = {str(name) for name in required} if isinstance(required, list) else set()
    return tuple(
        Parameter(
            name=str(name),
            types=_types(spec),
            required=str(name) in needed,
            description=_text(spec.get("description")) if isinstance(spec, Mapping) else "",
            item_types=_types(spec.get("items")) if isinstance(spec, Mapping) else (),
            format=_text(spec.get("format")) if isinstance(spec, Mapping) else "",
        )
        for name, spec in properties.items()
    )


def _types(spec: object) -> tuple[str, ...]:
    """The JSON types a schema allows: `type` (a name or a list) or the types of `anyOf`."""
    if not isinstance(spec, Mapping):
        return ()
    kind = spec.get("type")
    if isinstance(kind, str):
        return (kind,)
    if isinstance(kind, list):
        return tuple(str(k) for k in kind)
    alternatives = spec.get("anyOf", spec.get("oneOf"))
    if isinstance(alternatives, list):
        found: list[str] = []
        for alternative in alternatives:
            found += [k for k in _types(alternative) if k not in found]
        return tuple(found)
    return ()


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
