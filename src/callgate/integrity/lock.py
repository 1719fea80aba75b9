"""The lock file: each tool's pinned definition per server, and how a listing compares (pure).

A tool's *definition* is the part of its `tools/list` entry that tells the model what the
tool does and takes: `description`, `inputSchema`, `outputSchema` and `annotations` (those
present). Its hash is the SHA-256 of the definition's canonical JSON (sorted keys, compact,
numbers by exact value: `callgate.approvals.fingerprint.canonical_json`), so key order and
whitespace never make a difference, and any change of a word does.

The lock file is JSON, versioned, written sorted and without timestamps, so pinning the
same server twice writes the same bytes (a CI diff shows only real changes):

    {"version": 1,
     "servers": {"mcp-server-time": {
        "origin": "mcp-server-time --local-timezone UTC",
        "tools": {"get_current_time": {"sha256": "9c1e…",
                                       "definition": {"description": "…", …}}}}}}

Errors: `LockError` (code `invalid_lock`), the file is not a lock this version reads.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from callgate.approvals.fingerprint import canonical_json

__all__ = [
    "DEFINITION_PARTS",
    "LOCK_VERSION",
    "Lock",
    "LockError",
    "PinnedTool",
    "ServerPins",
    "ToolChange",
    "ToolStatus",
    "compare_server",
    "compare_tool",
    "definition_of",
    "hash_definition",
    "parse_lock",
    "pin_server",
    "render_definition",
]

LOCK_VERSION: Final = 1
DEFINITION_PARTS: Final = ("description", "inputSchema", "outputSchema", "annotations")
"""The keys of a listed tool that are pinned (the name is the key it is pinned under)."""


class LockError(ValueError):
    """A lock file this version cannot read (code `invalid_lock`)."""

    code = "invalid_lock"


class ToolStatus(StrEnum):
    """How a listed tool compares to the lock."""

    UNCHANGED = "unchanged"
    CHANGED = "changed"
    NEW = "new"
    REMOVED = "removed"


def definition_of(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The pinned parts of a listed tool (absent or null parts are left out)."""
    return {part: tool[part] for part in DEFINITION_PARTS if tool.get(part) is not None}


def hash_definition(definition: Mapping[str, Any]) -> str:
    """The hex SHA-256 of the definition's canonical JSON."""
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PinnedTool:
    """One tool as pinned: its hash and the definition (to show a diff against)."""

    sha256: str
    definition: Mapping[str, Any]

    @classmethod
    def of(cls, tool: Mapping[str, Any]) -> PinnedTool:
        """The pin of a listed tool."""
        definition = definition_of(tool)
        return cls(hash_definition(definition), definition)


@dataclass(frozen=True, slots=True)
class ServerPins:
    """The pinned tools of one server, by name, and where they were read from."""

    tools: Mapping[str, PinnedTool]
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Lock:
    """Pinned tools per server name (the name `callgate run` gives the upstream)."""

    servers: Mapping[str, ServerPins] = field(default_factory=dict)

    def with_server(self, name: str, pins: ServerPins) -> Lock:
        """A copy where server `name` is pinned as `pins` (the other servers kept)."""
        return Lock({**self.servers, name: pins})

    def to_json(self) -> str:
        """The lock file's text: sorted, two-space indented, ending in a newline."""
        document = {
            "version": LOCK_VERSION,
            "servers": {
                name: {
                    **({"origin": pins.origin} if pins.origin is not None else {}),
                    "tools": {
                        tool: {"sha256": pin.sha256, "definition": pin.definition}
                        for tool, pin in sorted(pins.tools.items())
                    },
                }
                for name, pins in sorted(self.servers.items())
            },
        }
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def pin_server(tools: Iterable[Mapping[str, Any]], origin: str | None = None) -> ServerPins:
    """Pin every listed tool (a later tool of the same name replaces an earlier one)."""
    return ServerPins({tool["name"]: PinnedTool.of(tool) for tool in tools}, origin)


def parse_lock(text: str, origin: str = "<lock>") -> Lock:
    """Read a lock file's text; `LockError` says what is wrong and where.

    A pin whose hash does not match its definition is refused: an edited definition
    would otherwise show one thing in diffs and accept another.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise LockError(f"{origin}:{error.lineno}:{error.colno}: not JSON ({error.msg})") from None
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        found = data.get("version") if isinstance(data, dict) else None
        raise LockError(
            f"{origin}: not a callgate lock of version {LOCK_VERSION} (version {found!r})"
        )
    servers = data.get("servers")
    if not isinstance(servers, dict):
        raise LockError(f"{origin}: `servers` must be an object")
    parsed: dict[str, ServerPins] = {}
    for name, entry in servers.items():
        where = f"{origin}: servers.{name}"
        tools = entry.get("tools") if isinstance(entry, dict) else None
        if not isinstance(tools, dict):
            raise LockError(f"{where}: `tools` must be an object")
        pins: dict[str, PinnedTool] = {}
        for tool, pin in tools.items():
            definition = pin.get("definition") if isinstance(pin, dict) else None
            if not isinstance(definition, dict) or not isinstance(pin.get("sha256"), str):
                raise LockError(f"{where}.tools.{tool}: needs `sha256` and `definition`")
            if hash_definition(definition) != pin["sha256"]:
                raise LockError(
                    f"{where}.tools.{tool}: sha256 does not match the definition "
                    "(edited by hand? pin the server again)"
                )
            pins[tool] = PinnedTool(pin["sha256"], definition)
        origin_text = entry.get("origin")
        parsed[name] = ServerPins(pins, origin_text if isinstance(origin_text, str) else None)
    return Lock(parsed)


def render_definition(definition: Mapping[str, Any] | None) -> list[str]:
    """A definition as diffable lines: indented JSON, sorted keys, every character that
    is not printable ASCII escaped (an invisible change must show)."""
    if definition is None:
        return []
    return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=True).splitlines()


@dataclass(frozen=True, slots=True)
class ToolChange:
    """One tool of a listing compared to the lock."""

    name: str
    status: ToolStatus
    pinned: PinnedTool | None
    listed: PinnedTool | None

    @property
    def diff(self) -> str:
        """A unified diff from the pinned definition to the listed one ('' when unchanged)."""
        if self.status is ToolStatus.UNCHANGED:
            return ""
        old = self.pinned.definition if self.pinned is not None else None
        new = self.listed.definition if self.listed is not None else None
        lines = difflib.unified_diff(
            render_definition(old),
            render_definition(new),
            fromfile=f"{self.name} (pinned)" if old is not None else "/dev/null",
            tofile=f"{self.name} (listed)" if new is not None else "/dev/null",
            lineterm="",
        )
        return "\n".join(lines)


def compare_tool(pins: ServerPins | None, name: str, listed: PinnedTool) -> ToolChange:
    """How the listed tool `name` compares to the server's pins (None: server not pinned)."""
    pinned = pins.tools.get(name) if pins is not None else None
    if pinned is None:
        return ToolChange(name, ToolStatus.NEW, None, listed)
    status = ToolStatus.UNCHANGED if pinned.sha256 == listed.sha256 else ToolStatus.CHANGED
    return ToolChange(name, status, pinned, listed)


def compare_server(pins: ServerPins | None, tools: Iterable[Mapping[str, Any]]) -> list[ToolChange]:
    """Every listed tool compared to the pins, then every pinned tool not listed (removed),
    each group by name."""
    listed = {tool["name"]: PinnedTool.of(tool) for tool in tools}
    changes = [compare_tool(pins, name, pin) for name, pin in sorted(listed.items())]
    if pins is not None:
        changes += [
            ToolChange(name, ToolStatus.REMOVED, pin, None)
            for name, pin in sorted(pins.tools.items())
            if name not in listed
        ]
    return changes
