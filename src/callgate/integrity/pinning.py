"""The run-time check of listed tools against the lock: what the gate does with each tool.

The gate tells `Pinning` of every `tools/list` page a server answers (`listed`) and of
every `notifications/tools/list_changed` it sends (`list_changed`), and asks it about
every `tools/call` (`check`). Per server, the definition each tool had in the **latest**
listing is kept; a call is judged against that, never against what the server may say
now:

    status of the tool                      the policy's action (`integrity:`)
    listed as pinned                        nothing (the call goes on to the rules)
    listed, differs from its pin            on_change: hide | deny | require_approval | warn
    listed, not in the lock                 on_new_tool (default: as on_change)
    not listed since callgate started, or   fail closed: hide, deny (list the tools first),
      since the server's list_changed,        or warn; never sent to a person without a
      or the lock cannot be read              definition to show

A server that answers the list as pinned, then swaps a description and sends
`list_changed`, finds every tool unverified from that notification on: a call before the
client lists again is refused, and the next listing shows the change. Pages add to what
is known (after a `list_changed`, a tool on a page not fetched again stays unverified).

`require_approval` turns the call into an approval request whose `definition_diff` the
approver sees (`diff_of`). The gate checks again after the approval and refuses the call
when the definition changed once more while the person decided.

A second contributor to a tool's verdict is the description scan (`scan`, issue 15 item
2: `integrity.scan_descriptions: hide | warn`): findings hide the tool or are warned
about; the more severe of the two verdicts wins.

The check is answered from a cache per (server, tool), cleared by a listing, a
`list_changed`, a changed lock file or a reloaded policy, so a call costs a dictionary
lookup. The lock file is read (when its mtime changed) on a listing, never on a call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from callgate.integrity.lock import (
    Lock,
    LockError,
    PinnedTool,
    ToolChange,
    ToolStatus,
    compare_tool,
    parse_lock,
)
from callgate.policy.decision import Decision, Verdict

__all__ = ["INTEGRITY_RULE", "IntegritySettings", "Pinning", "Scanner", "scan_definition"]

INTEGRITY_RULE = "integrity"
"""The rule name of every decision the pin check makes (denials, audit, approvals)."""

MAX_TOOLS_PER_SERVER = 10_000
MAX_VERDICTS = 65_536

Scanner = Callable[[Mapping[str, Any]], Sequence[str]]
"""A listed tool definition -> what the description scan found (one line each)."""

_SEVERITY = {Verdict.ALLOW: 0, Verdict.APPROVAL_REQUIRED: 1, Verdict.DENY: 2, Verdict.HIDDEN: 3}


class IntegritySettings(Protocol):
    """The policy's `integrity:` block (`callgate.policy.schema.IntegritySpec`)."""

    @property
    def lock(self) -> str: ...

    @property
    def on_change(self) -> str: ...

    @property
    def new_tool_action(self) -> str: ...

    @property
    def scan_descriptions(self) -> str | None: ...


def scan_definition(tool: Mapping[str, Any]) -> list[str]:
    """The description scan's findings on one listed tool, one line each (the `Scanner`
    a policy with `scan_descriptions` uses; the scanner is imported on first use)."""
    from callgate.integrity.poisoning import scan_tool  # noqa: PLC0415 - only when asked

    return list(dict.fromkeys(f"{f.message} ({f.where})" for f in scan_tool(tool)))


def _log(line: str) -> None:
    print(f"callgate: {line}", file=sys.stderr)


@dataclass
class Pinning:
    """The latest listing per server, checked against the lock the policy names."""

    settings: Callable[[], IntegritySettings | None]
    """The policy in force's `integrity:` block (None: nothing is pinned)."""
    base: Path = field(default_factory=Path)
    """Where a relative `lock:` path starts (the policy file's directory)."""
    scan: Scanner | None = None
    """The description scan, when `scan_descriptions` is set (None: not available)."""
    log: Callable[[str], None] = _log
    _listed: dict[str, dict[str, _Listed]] = field(default_factory=dict)
    _changed: set[str] = field(default_factory=set)
    """Servers that sent `list_changed` and were not listed since."""
    _verdicts: dict[tuple[str, str], _Verdict] = field(default_factory=dict)
    _locks: dict[Path, tuple[int | None, Lock | str]] = field(default_factory=dict)
    _settings_seen: IntegritySettings | None = None
    _warned: set[tuple[str, str, str]] = field(default_factory=set)

    # -- what the gate tells ------------------------------------------------------------

    def listed(self, server: str, tools: list[Any]) -> list[Any]:
        """Record one `tools/list` page; return the tools the client may see."""
        known = self._listed.setdefault(server, {})
        verdicts = self._verdicts
        if server in self._changed:
            self._changed.discard(server)
            verdicts.clear()  # the reasons of its unlisted tools change
        for tool in tools:
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                previous = known.get(tool["name"])
                if previous is None and len(known) >= MAX_TOOLS_PER_SERVER:
                    continue
                # The same definition again (the common case) keeps its hash and verdict:
                # comparing costs far less than hashing anew.
                if previous is None or previous.tool != tool:
                    known[tool["name"]] = _Listed(tool)
                    verdicts.pop((server, tool["name"]), None)
        settings = self._current()
        if settings is None:
            return tools
        self._lock(settings, fresh=True)
        kept = []
        for tool in tools:
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str) or name not in known:
                kept.append(tool)
                continue
            verdict = self._verdict(server, name)
            self._report(server, name, verdict)
            if verdict.decision is None or verdict.decision.verdict is not Verdict.HIDDEN:
                kept.append(tool)
        return kept

    def list_changed(self, server: str) -> None:
        """The server says its tools changed: none is trusted until it is listed again."""
        self._listed.pop(server, None)
        self._changed.add(server)
        self._verdicts.clear()

    def check_lock(self) -> None:
        """Read the lock the policy names now (at start), so a missing or broken lock is
        said on stderr before any tool is listed."""
        settings = self._current()
        if settings is not None:
            self._lock(settings, fresh=True)

    # -- what the gate asks -------------------------------------------------------------

    def check(self, server: str, tool: str) -> Decision | None:
        """What the pin check decides about a call (None: nothing; the rules judge it).

        HIDDEN or DENY refuse the call; APPROVAL_REQUIRED asks a person; ALLOW carries a
        warning for the audit log.
        """
        if self._current() is None:
            return None
        return self._verdict(server, tool).decision

    def diff_of(self, server: str, tool: str) -> str | None:
        """The diff from the pinned to the latest listed definition, for an approver."""
        if self._current() is None:
            return None
        change = self._verdict(server, tool).change
        return change.diff if change is not None and change.diff else None

    # -- inside ---------------------------------------------------------------------------

    def _current(self) -> IntegritySettings | None:
        settings = self.settings()
        if settings is not self._settings_seen:
            self._settings_seen = settings
            self._verdicts.clear()
        return settings

    def _lock(self, settings: IntegritySettings, *, fresh: bool) -> tuple[Path, Lock | str]:
        """The lock the policy names, or why it cannot be read; read again on `fresh`
        when the file changed."""
        path = self.base / settings.lock
        cached = self._locks.get(path)
        if cached is not None and not fresh:
            return path, cached[1]
        try:
            stamp: int | None = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if cached is not None and stamp is not None and cached[0] == stamp:
            return path, cached[1]
        lock: Lock | str
        try:
            lock = parse_lock(path.read_text(encoding="utf-8"), str(path))
        except OSError as error:
            lock = f"cannot read the lock {path}: {error.strerror or error}"
        except LockError as error:
            lock = str(error)
        if isinstance(lock, str):
            self.log(f"integrity: {lock}; every tool is treated as unverified")
        self._locks[path] = (stamp, lock)
        self._verdicts.clear()
        return path, lock

    def _verdict(self, server: str, tool: str) -> _Verdict:
        key = (server, tool)
        found = self._verdicts.get(key)
        if found is not None:
            return found
        settings = self._settings_seen
        assert settings is not None
        verdict = self._judge(settings, server, tool)
        if len(self._verdicts) >= MAX_VERDICTS:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def _judge(self, settings: IntegritySettings, server: str, tool: str) -> _Verdict:
        path, lock = self._lock(settings, fresh=False)
        pins = lock.servers.get(server) if isinstance(lock, Lock) else None
        listed = self._listed.get(server, {}).get(tool)
        pinned = pins is not None and tool in pins.tools
        if isinstance(lock, str) or listed is None:
            action = (
                settings.on_change if pinned or isinstance(lock, str) else settings.new_tool_action
            )
            why = lock if isinstance(lock, str) else self._unlisted(server, tool)
            return _Verdict(_unverified(action, tool, why), None)
        change = compare_tool(pins, tool, listed.pin)
        decision = _pinned_decision(settings, change, path)
        if self.scan is not None and settings.scan_descriptions is not None:
            findings = listed.findings(self.scan)
            if findings:
                decision = _severest(decision, _scanned(settings.scan_descriptions, tool, findings))
        return _Verdict(decision, change)

    def _unlisted(self, server: str, tool: str) -> str:
        if server in self._changed:
            since = "the server said its tools changed (notifications/tools/list_changed)"
        else:
            since = "callgate started"
        return (
            f"tool {tool!r} has not been listed since {since}, so its definition cannot be "
            "checked against the lock; list the tools (tools/list) and call it again"
        )

    def _report(self, server: str, tool: str, verdict: _Verdict) -> None:
        """Say once on stderr (per definition) that a listed tool is not as pinned."""
        change, decision = verdict.change, verdict.decision
        if change is None or decision is None or change.listed is None:
            return
        key = (server, tool, change.listed.sha256)
        if key in self._warned:
            return
        if len(self._warned) >= MAX_VERDICTS:
            self._warned.clear()
        self._warned.add(key)
        self.log(f"integrity: server {server!r}: {decision.reason}")


@dataclass(slots=True)
class _Listed:
    """A tool as last listed: its pin (hash and definition), computed on first use."""

    tool: Mapping[str, Any]
    _pin: PinnedTool | None = None
    _findings: Sequence[str] | None = None

    @property
    def pin(self) -> PinnedTool:
        if self._pin is None:
            self._pin = PinnedTool.of(self.tool)
        return self._pin

    def findings(self, scan: Scanner) -> Sequence[str]:
        if self._findings is None:
            self._findings = tuple(scan(self.tool))
        return self._findings


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The decision for calls to one tool (None: no objection), and how it compares."""

    decision: Decision | None
    change: ToolChange | None


def _short(digest: str) -> str:
    return digest[:12]


def _pinned_decision(
    settings: IntegritySettings, change: ToolChange, lock: Path
) -> Decision | None:
    """What `on_change` / `on_new_tool` make of a listed tool (None: it is as pinned)."""
    tool = change.name
    if change.status is ToolStatus.UNCHANGED or change.listed is None:
        return None
    if change.status is ToolStatus.NEW:
        action = settings.new_tool_action
        what = f"tool {tool!r} is new: {lock.name} does not pin it"
    else:
        action = settings.on_change
        old = _short(change.pinned.sha256) if change.pinned is not None else "-"
        what = (
            f"the definition of tool {tool!r} changed since it was pinned in {lock.name} "
            f"(sha256 {old} -> {_short(change.listed.sha256)})"
        )
    if action == "hide":
        return Decision(
            Verdict.HIDDEN, rule=INTEGRITY_RULE, reason=f"tool {tool!r} is hidden: {what}"
        )
    if action == "deny":
        return Decision(
            Verdict.DENY,
            rule=INTEGRITY_RULE,
            reason=f"{what}; an operator must review it (callgate pin --check) "
            "and accept it (callgate pin --update) before it can be called",
        )
    if action == "require_approval":
        return Decision(
            Verdict.APPROVAL_REQUIRED,
            rule=INTEGRITY_RULE,
            reason=f"{what}; a person must approve the call",
        )
    return Decision(Verdict.ALLOW, reason=f"warning: {what}")


def _unverified(action: str, tool: str, why: str) -> Decision:
    """Fail closed for a tool whose definition cannot be checked: nobody is asked about a
    definition nobody can see."""
    if action == "hide":
        return Decision(Verdict.HIDDEN, rule=INTEGRITY_RULE, reason=why)
    if action == "warn":
        return Decision(Verdict.ALLOW, reason=f"warning: {why}")
    return Decision(Verdict.DENY, rule=INTEGRITY_RULE, reason=why)


def _scanned(mode: str, tool: str, findings: Sequence[str]) -> Decision:
    what = f"the definition of tool {tool!r} looks poisoned: " + "; ".join(findings)
    if mode == "hide":
        return Decision(
            Verdict.HIDDEN, rule=INTEGRITY_RULE, reason=f"tool {tool!r} is hidden: {what}"
        )
    return Decision(Verdict.ALLOW, reason=f"warning: {what}")


def _severest(first: Decision | None, second: Decision) -> Decision:
    if first is None or _SEVERITY[second.verdict] > _SEVERITY[first.verdict]:
        return second
    return first
