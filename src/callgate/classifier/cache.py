"""Each upstream tool's risk category and flags, kept from the `tools/list` results seen.

The proxy learns tool definitions from `tools/list` (see `callgate.proxy.catalog`);
`ToolCategories.learn` is its listener: it classifies each definition once, keeps the
result per server, and reports a `CategoryChange` when a server redefines a tool so that
its category changes (the new category applies from then on). Looking a category or the
flags up is a dictionary read, so the hot path pays nothing for classification.

A tool the proxy is asked to call but never saw listed is judged by its name alone
(`verdict`), so calling a tool without listing it first cannot slip past the policy's
`categories:` and `flags:` rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from callgate.classifier.classification import Category, Classification, Flag
from callgate.classifier.engine import classify_tool

_NAME_VERDICTS = 4096
"""Verdicts on bare tool names kept (tools called without being listed)."""


@dataclass(frozen=True, slots=True)
class CategoryChange:
    """A tool whose category changed because its server redefined it."""

    server: str
    tool: str
    before: Category
    after: Classification

    def describe(self) -> str:
        """One line for the log."""
        return (
            f"server {self.server!r} redefined tool {self.tool!r}: category "
            f"{self.before.value} -> {self.after.category.value} "
            f"({'; '.join(self.after.reasons)})"
        )


@dataclass(frozen=True, slots=True)
class _Known:
    definition: Mapping[str, Any]
    classification: Classification


class ToolCategories:
    """The classifier's category of every tool learned, per server, bounded per server."""

    def __init__(
        self,
        on_change: Callable[[CategoryChange], None] | None = None,
        max_tools_per_server: int = 10_000,
    ) -> None:
        self._known: dict[str, dict[str, _Known]] = {}
        self._on_change = on_change
        self._max = max_tools_per_server

    def learn(self, server: str, tools: Mapping[str, Mapping[str, Any]]) -> None:
        """Classify newly seen or redefined tools (a `ToolCatalog` listener)."""
        known = self._known.setdefault(server, {})
        for name, definition in tools.items():
            previous = known.get(name)
            if previous is not None and previous.definition == definition:
                continue
            if previous is None and len(known) >= self._max:
                continue
            classification = classify_tool(definition)
            known[name] = _Known(definition, classification)
            if (
                previous is not None
                and previous.classification.category is not classification.category
                and self._on_change is not None
            ):
                self._on_change(
                    CategoryChange(server, name, previous.classification.category, classification)
                )

    def classification(self, server: str, tool: str) -> Classification | None:
        """The classifier's verdict on the tool as last listed, or None when never seen."""
        found = self._known.get(server, {}).get(tool)
        return found.classification if found is not None else None

    def category(self, server: str, tool: str) -> str | None:
        """The category name for `Facts.category`, or None when the tool was never listed."""
        found = self.classification(server, tool)
        return found.category.value if found is not None else None

    def flags(self, server: str, tool: str) -> tuple[Flag, ...] | None:
        """The tool's flags for `Facts.flags`, or None when the tool was never listed."""
        found = self.classification(server, tool)
        return found.flags if found is not None else None

    def verdict(self, server: str, tool: str) -> Classification:
        """The verdict on the tool as last listed; on its name alone when never listed."""
        known = self._known.get(server)
        found = known.get(tool) if known is not None else None
        return found.classification if found is not None else _by_name(tool)

    def category_of(self, server: str, tool: str) -> str:
        """`verdict`'s category name (the gate's `categorize`)."""
        return self.verdict(server, tool).category.value

    def flags_of(self, server: str, tool: str) -> tuple[Flag, ...]:
        """`verdict`'s flags (the gate's `flag`)."""
        return self.verdict(server, tool).flags

    def classify(self, server: str, definition: Mapping[str, Any]) -> Classification:
        """The verdict on a listed definition: the one learned when it is the same, else
        classified now (a tool beyond the per-server bound, or one not learned yet)."""
        name = definition.get("name")
        known = self._known.get(server)
        found = known.get(name) if known is not None and isinstance(name, str) else None
        if found is not None and (found.definition is definition or found.definition == definition):
            return found.classification
        return classify_tool(definition)


@functools.lru_cache(maxsize=_NAME_VERDICTS)
def _by_name(tool: str) -> Classification:
    return classify_tool({"name": tool})
