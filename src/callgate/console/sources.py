"""Where the console reads from and writes to: the approval store, the audit log, the
policy file, and (when mounted in a running proxy) the tools it has seen listed.

The standalone console and the one mounted by `callgate run --listen` differ only here:
the standalone one opens the store and reads the policy file itself; the mounted one
shares the proxy's store, audit sink, policy in force and tool catalog.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callgate.approvals.model import EventSink, discard_events
from callgate.approvals.store import ApprovalStore
from callgate.audit.query import RecordFilter
from callgate.audit.reading import last_records, snapshot
from callgate.classifier import Classification, classify_tool
from callgate.errors import PolicyError, PolicyIssue
from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.proxy.catalog import ToolCatalog
from callgate.state.store import CounterStore

RECENT_CALLS = 5


@dataclass(frozen=True, slots=True)
class PolicyState:
    """The policy file as the console last looked at it."""

    path: Path
    text: str
    loaded_at: float | None
    """When the policy in force was loaded (None: no valid version seen)."""
    errors: tuple[tuple[int, int, str], ...]
    """The file's problems now (line, column, message); empty when it is valid."""
    checked_at: float


@dataclass
class PolicyTracker:
    """Loads the policy file, keeps the last valid version, and notes each change."""

    path: Path
    in_force: Callable[[], CompiledPolicy] | None = None
    """The proxy's policy in force, when mounted in a running proxy."""
    clock: Callable[[], float] = time.time
    _policy: CompiledPolicy | None = None
    _loaded_at: float | None = None
    _signature: tuple[int, int] | None = None
    _errors: tuple[tuple[int, int, str], ...] = ()

    async def reloaded(self, old: object, new: object) -> None:
        """The running proxy took a new version of the file (a `PolicyWatcher` listener)."""
        self._loaded_at = self.clock()

    def current(self) -> CompiledPolicy:
        """The policy in force (the proxy's, or the last valid version of the file)."""
        self.check()
        if self.in_force is not None:
            return self.in_force()
        if self._policy is None:
            raise PolicyError([])
        return self._policy

    def check(self) -> PolicyState:
        """Look at the file again if it changed; its state now."""
        try:
            stat = self.path.stat()
            signature: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            signature = None
        now = self.clock()
        if signature != self._signature or self._signature is None:
            self._signature = signature
            self._load(now)
        return PolicyState(
            path=self.path,
            text=_read(self.path),
            loaded_at=self._loaded_at,
            errors=self._errors,
            checked_at=now,
        )

    def _load(self, now: float) -> None:
        try:
            policy = load_compiled_policy(self.path)
        except PolicyError as error:
            self._errors = tuple((i.line, i.column, _say(i)) for i in error.issues)
            return
        except OSError as error:
            self._errors = ((0, 0, f"cannot read {self.path}: {error}"),)
            return
        self._errors = ()
        self._policy = policy
        if self.in_force is None or self._loaded_at is None:
            self._loaded_at = now


@dataclass
class ConsoleSources:
    """Everything the console pages read, and where operator decisions are recorded."""

    approvals: ApprovalStore
    policy: PolicyTracker
    audit_path: Path | None = None
    audit_key_path: Path | None = None
    events: EventSink = discard_events
    counters: CounterStore | None = None
    clock: Callable[[], float] = time.time
    listed: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    """Tool definitions by (server, tool), as the proxy saw them listed (mounted only)."""
    cards: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Risk cards built so far (a card is slow to build: its snippets are YAML)."""
    _verdicts: dict[tuple[str, str], Classification] = field(default_factory=dict)
    _seen: tuple[dict[Path, int], list[dict[str, Any]]] | None = None

    def watch(self, catalog: ToolCatalog) -> None:
        """Learn every tool the running proxy's catalog learns from now on."""
        catalog.subscribe(self.learn)

    def learn(self, server: str, tools: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep the definitions of one `tools/list` page (bounded)."""
        for name, definition in tools.items():
            if len(self.listed) < 10_000 or (server, name) in self.listed:
                self.listed[(server, name)] = definition
                self._verdicts.pop((server, name), None)
                self.cards.pop((server, name), None)

    def classify(self, server: str, tool: str) -> Classification:
        """The classifier's verdict on a tool, from its listed definition when known."""
        definition = self.definition(server, tool)
        key = (server, tool)
        cached = self._verdicts.get(key)
        if cached is None:
            cached = classify_tool(dict(definition) if definition else {"name": tool})
            if len(self._verdicts) < 10_000:
                self._verdicts[key] = cached
        return cached

    def definition(self, server: str, tool: str) -> Mapping[str, Any] | None:
        """The tool's definition as its server listed it to the proxy, when known."""
        return self.listed.get((server, tool))

    def seen(self, count: int) -> list[dict[str, Any]]:
        """The last `count` records of each writer that name a tool (re-read only when the
        log has grown since the last look)."""
        if self.audit_path is None or not self.audit_path.exists():
            return []
        sizes = snapshot(self.audit_path)
        if self._seen is None or self._seen[0] != sizes:
            found = last_records(self.audit_path, count, upto=sizes)
            self._seen = (sizes, [record for record in found if record.get("tool")])
        return self._seen[1]

    def recent_calls(self, agent: str, count: int = RECENT_CALLS) -> list[dict[str, Any]]:
        """The agent's last decided calls in the audit log, oldest first."""
        if self.audit_path is None or not self.audit_path.exists():
            return []
        wanted = RecordFilter(values={"agent": [agent]})
        found = last_records(self.audit_path, count * 4, wanted)
        return [record for record in found if record.get("decision")][-count:]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _say(issue: PolicyIssue) -> str:
    """An issue without its file and position (the page shows those apart)."""
    text = f"{issue.key}: {issue.message}" if issue.key else issue.message
    return f"{text} ({issue.hint})" if issue.hint else text
