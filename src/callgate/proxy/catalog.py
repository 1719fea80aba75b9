"""What each upstream server said its tools are, from the `tools/list` results seen.

The gate records every tool definition (hidden ones too) so argument validation can find
a tool's `inputSchema`, and so later features (risk categories) can read descriptions and
annotations without asking the server again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

ToolListener = Callable[[str, Mapping[str, Mapping[str, Any]]], None]
"""Called with (server, {tool name: definition}) whenever a server's tools are learned."""


class ToolCatalog:
    """Tool definitions per upstream server, bounded per server."""

    def __init__(self, max_tools_per_server: int = 10_000) -> None:
        self._tools: dict[str, dict[str, Mapping[str, Any]]] = {}
        self._max = max_tools_per_server
        self._listeners: list[ToolListener] = []

    def subscribe(self, listener: ToolListener) -> None:
        """Be told about every batch of tool definitions learned (the category hook)."""
        self._listeners.append(listener)

    def learn(self, server: str, tools: list[Any]) -> None:
        """Record the well-formed tool definitions from one `tools/list` page."""
        known = self._tools.setdefault(server, {})
        learned: dict[str, Mapping[str, Any]] = {}
        for tool in tools:
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                if len(known) >= self._max and tool["name"] not in known:
                    continue
                known[tool["name"]] = tool
                learned[tool["name"]] = tool
        for listener in self._listeners:
            listener(server, learned)

    def listed(self, server: str) -> bool:
        """Whether a `tools/list` answer of `server` was seen."""
        return server in self._tools

    def names(self) -> set[str]:
        """Every tool name any server listed."""
        return {name for tools in self._tools.values() for name in tools}

    def definition(self, server: str, tool: str) -> Mapping[str, Any] | None:
        """The tool's definition as the server last listed it, or None when never seen."""
        return self._tools.get(server, {}).get(tool)

    def input_schema(self, server: str, tool: str) -> Mapping[str, Any] | None:
        """The tool's `inputSchema`, or None when unknown or not an object."""
        definition = self.definition(server, tool)
        schema = definition.get("inputSchema") if definition is not None else None
        return schema if isinstance(schema, dict) else None


class Hiding(Protocol):
    """What a policy says about the tools clients see: hidden ones, annotations
    (`CompiledPolicy` is one)."""

    @property
    def hide_all(self) -> bool:
        """`hide: ["*"]`."""
        ...

    @property
    def hidden_names(self) -> frozenset[str]:
        """The exact names under `hide:`."""
        ...

    @property
    def hidden_patterns(self) -> tuple[_Pattern, ...]:
        """The patterns under `hide:` (`delete_*`)."""
        ...

    def is_hidden(self, tool: str) -> bool:
        """Whether the tool is removed from `tools/list` and refused."""
        ...

    @property
    def annotate_tools(self) -> bool:
        """Whether listed tools carry their risk in `_meta` (it changes what clients see)."""
        ...


class _Pattern(Protocol):
    @property
    def text(self) -> str: ...


def _hide_entries(policy: Hiding) -> tuple[bool, frozenset[str], frozenset[str]]:
    patterns = frozenset(pattern.text for pattern in policy.hidden_patterns)
    return policy.hide_all, policy.hidden_names, patterns


def hiding_changed(old: Hiding, new: Hiding, catalog: ToolCatalog) -> bool:
    """Whether going from `old` to `new` changes which tools a client may see.

    Judged over the tools the servers listed (a new pattern that matches none of them
    changes nothing a client saw); when no tool was listed yet, the `hide` entries
    themselves are compared.
    """
    names = catalog.names()
    if not names:
        return _hide_entries(old) != _hide_entries(new)
    return any(old.is_hidden(name) != new.is_hidden(name) for name in names)
