"""The Tools, Limits and audit-verification views: gathered from the sources, then built
by plain functions over what was read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio

from callgate.catalogue.card import RiskCard, card_for
from callgate.catalogue.definition import read_definition
from callgate.console.sources import ConsoleSources
from callgate.policy.compiler import CompiledPolicy
from callgate.policy.decision import Agent, Facts, ToolCall
from callgate.policy.explain import explain
from callgate.state.counters import CounterKey, Scope, Window, WindowKind
from callgate.state.store import StoreUnavailable
from callgate.state.windows import bucket_end

SEEN_RECORDS = 1000
"""How far back (records per writer) the audit log is read for the tools, servers, agents
and sessions seen."""


@dataclass(frozen=True, slots=True)
class ToolView:
    """One tool of one upstream: its risk card, whether hidden, what the policy does."""

    server: str
    card: RiskCard
    hidden: bool
    listed: bool
    """Whether the definition came from the server's `tools/list` (else: the name only)."""
    steps: tuple[tuple[str, str, int], ...]
    """`callgate explain`'s steps for a call without arguments (text, outcome, depth)."""
    decision: str


@dataclass(frozen=True, slots=True)
class LimitUse:
    """One counter's use in one scope now."""

    scope_key: str
    server: str
    used: str
    resets: str


@dataclass(frozen=True, slots=True)
class LimitView:
    """A rate limit or counter of the policy, with its use per scope."""

    kind: str
    name: str
    limit: str
    window: str
    scope: str
    uses: tuple[LimitUse, ...]


@dataclass(frozen=True, slots=True)
class VerificationView:
    """Whether the audit log verifies, in a line per writer."""

    checked: bool
    intact: bool
    lines: tuple[tuple[bool, str], ...]
    message: str


def seen_in_audit(sources: ConsoleSources) -> list[dict[str, Any]]:
    """The latest records, to learn which tools, agents and sessions exist."""
    return sources.seen(SEEN_RECORDS)


def tool_views(sources: ConsoleSources, policy: CompiledPolicy | None) -> dict[str, list[ToolView]]:
    """Every known tool by server: listed to the proxy, named by the policy, or called."""
    known = {(str(r.get("server") or ""), str(r["tool"])) for r in seen_in_audit(sources)}
    known.update(sources.listed)
    servers = {server for server, _ in known} or {"upstream"}
    if policy is not None:
        named = {tool for _, tool in known}
        unseen = [name for name in policy.tools if name not in named]
        known.update((server, name) for name in unseen for server in servers)
    by_server: dict[str, list[ToolView]] = {}
    for server, tool in sorted(known):
        by_server.setdefault(server, []).append(_tool_view(sources, policy, server, tool))
    for views in by_server.values():
        views.sort(key=lambda view: view.card.risk_key)
    return by_server


def _tool_view(
    sources: ConsoleSources, policy: CompiledPolicy | None, server: str, tool: str
) -> ToolView:
    definition = sources.definition(server, tool)
    classification = sources.classify(server, tool)
    card = sources.cards.get((server, tool))
    if card is None:
        card = card_for(read_definition(dict(definition or {"name": tool})), classification)
        if len(sources.cards) < 10_000:
            sources.cards[(server, tool)] = card
    if policy is None:
        return ToolView(server, card, False, definition is not None, (), "no valid policy")
    facts = Facts(
        now=sources.clock(),
        agent=Agent("anonymous"),
        category=classification.category.value,
        flags=tuple(flag.value for flag in classification.flags),
    )
    story = explain(policy, ToolCall(server, tool, {}), facts)
    decision = story.decision.verdict.value
    if story.decision.rule:
        decision += f" by rule {story.decision.rule!r}"
    return ToolView(
        server=server,
        card=card,
        hidden=policy.is_hidden(tool),
        listed=definition is not None,
        steps=tuple((s.text, s.outcome.value, s.depth) for s in story.steps),
        decision=decision,
    )


async def limit_views(sources: ConsoleSources, policy: CompiledPolicy) -> list[LimitView]:
    """Each rate limit and counter with its current use in every scope seen in the log."""
    records = seen_in_audit(sources)
    servers = sorted({str(r.get("server") or "") for r in records}) or ["upstream"]
    owners = {
        Scope.SESSION: sorted({str(r.get("session") or "") for r in records} - {""}),
        Scope.AGENT: sorted({str(r.get("agent") or "") for r in records} - {""}),
        Scope.GLOBAL: ["*"],
    }
    now = sources.clock()
    specs: list[tuple[str, str, str, Window, Scope]] = [
        ("rate limit", name, str(limit.limit), limit.window, limit.scope)
        for name, limit in policy.rate_limits.items()
    ]
    specs.extend(
        ("counter", counter.key_name, "", counter.window, counter.scope)
        for counter in policy.counters.values()
        if not counter.key_name.startswith("rate:")
    )
    views = []
    for kind, name, limit, window, scope in specs:
        keys = [
            CounterKey(server, scope, owner, name, window)
            for server in servers
            for owner in owners[scope]
        ]
        values = await _read(sources, keys, now)
        uses = tuple(
            LimitUse(key.scope_key, key.server, _number(value), _resets(window, now))
            for key, value in values.items()
            if value
        )
        shown = name.removeprefix("rate:")
        views.append(LimitView(kind, shown, limit, _window_text(window), scope.value, uses))
    return views


async def _read(
    sources: ConsoleSources, keys: list[CounterKey], now: float
) -> Mapping[CounterKey, Decimal]:
    if sources.counters is None or not keys:
        return {}
    try:
        return await sources.counters.read(keys, now)
    except StoreUnavailable:
        return {}


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def _window_text(window: Window) -> str:
    seconds = window.seconds
    unit = {60: "minute", 3600: "hour", 86400: "day"}.get(seconds, f"{seconds} s")
    if window.kind is WindowKind.SLIDING:
        return f"any {unit}" if unit.endswith(" s") else f"any {unit} (sliding)"
    return f"per calendar {unit} (UTC)"


def _resets(window: Window, now: float) -> str:
    if window.kind is WindowKind.CALENDAR:
        from callgate.console.views import format_duration  # noqa: PLC0415

        return f"in {format_duration(bucket_end(window.seconds, now) - now)}"
    return "as each call leaves the window"


async def verification_view(sources: ConsoleSources) -> VerificationView:
    """Verify the audit directory's chains under the install key (in a worker thread)."""
    from callgate.audit.directory import verify_directory  # noqa: PLC0415
    from callgate.audit.sink import read_install_key  # noqa: PLC0415

    path = sources.audit_path
    if path is None or not path.is_dir():
        return VerificationView(False, False, (), "no audit directory to verify")
    if sources.audit_key_path is None:
        return VerificationView(False, False, (), "no audit key given")
    try:
        key = read_install_key(sources.audit_key_path)
    except (OSError, ValueError) as error:
        return VerificationView(False, False, (), f"cannot read the audit key: {error}")
    result = await anyio.to_thread.run_sync(verify_directory, path, key)
    lines = [_report_line(report) for report in result.reports]
    strays = result.strangers
    lines.extend((False, f"{name}: not a chained log file of any writer") for name in strays)
    message = "every chain intact" if result.intact else "the log does not verify"
    return VerificationView(True, result.intact, tuple(lines), message)


def _report_line(report: Any) -> tuple[bool, str]:
    if report.finding is None:
        return True, f"{report.writer}: {report.describe()}"
    return False, f"{report.writer}: {report.finding.problem.upper()}: {report.finding.message}"
