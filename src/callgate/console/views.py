"""What each console page shows, built from store and audit data (pure: the time passed in).

Templates only lay these out. Arguments are shown as the audit log would keep them (the
policy's redactor has replaced secrets) and long values are folded, never cut: a folded
value carries its whole text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callgate.approvals.model import Approval, Status
from callgate.audit.query import record_time
from callgate.audit.redaction import Redactor
from callgate.catalogue.card import deciding_sentence
from callgate.classifier import Classification

FOLD_AT = 120
"""Values whose text is longer than this (or spans lines) are folded behind a summary."""
SUMMARY_CHARS = 60

SHADOW_PREFIX = "would_"
DECISIONS = (
    "allow",
    "deny",
    "hidden",
    "rate_limited",
    "approval_required",
)
SHADOW_DECISIONS = ("would_deny", "would_rate_limit", "would_require_approval")


@dataclass(frozen=True, slots=True)
class ArgumentView:
    """One top-level argument: its name, its value as JSON text, folded when long."""

    name: str
    text: str
    folded: bool
    summary: str


@dataclass(frozen=True, slots=True)
class RiskView:
    """The classifier's verdict on a tool, in words."""

    category: str
    severity: str
    confidence: str
    flags: tuple[tuple[str, str], ...]
    why: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One audit record as a row of the decisions stream or a search result."""

    seq: str
    """The record's `seq` and exact `time`: its address for the details page."""
    stamp: str
    time: str
    server: str
    agent: str
    session: str
    tool: str
    decision: str
    rule: str
    reason: str
    shadow: bool
    enforced: str

    @property
    def label(self) -> str:
        """The decision in words: `would deny (shadow)` for a shadow verdict."""
        words = self.decision.replace("_", " ")
        return f"{words} (shadow)" if self.shadow else words


@dataclass(frozen=True, slots=True)
class ApprovalCard:
    """A pending (or just settled) approval with everything an operator decides on."""

    id: str
    tool: str
    server: str
    agent: str
    session: str
    rule: str
    mode: str
    age: str
    time_left: str
    created: str
    arguments: tuple[ArgumentView, ...]
    redacted: tuple[str, ...]
    risk: RiskView
    recent: tuple[DecisionRow, ...]
    status: str
    settled_by: str
    definition_diff: str = ""
    """How the tool's definition changed since it was pinned (integrity `on_change:
    require_approval`), as a unified diff; empty for an ordinary approval."""


def format_duration(seconds: float) -> str:
    """A short human duration: `42 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def json_text(value: Any) -> str:
    """A value as indented JSON text (non-ASCII as itself, anything odd as its string)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def view_arguments(arguments: Mapping[str, Any]) -> tuple[ArgumentView, ...]:
    """Each argument as JSON text, folded behind a one-line summary when long."""
    views = []
    for name, value in arguments.items():
        text = value if isinstance(value, str) else json_text(value)
        folded = len(text) > FOLD_AT or "\n" in text
        first = text.split("\n", 1)[0]
        summary = first[:SUMMARY_CHARS] + "…" if folded else text
        shown = json_text(value) if isinstance(value, str) and not folded else text
        views.append(ArgumentView(str(name), shown, folded, f"{summary} ({len(text)} characters)"))
    return tuple(views)


def view_risk(classification: Classification, category: str | None = None) -> RiskView:
    """The verdict in words; `category` is the one the policy used, when it differs."""
    why = dict(classification.flag_reasons)
    return RiskView(
        category=category or classification.category.value,
        severity=classification.severity.value,
        confidence=classification.confidence.value,
        flags=tuple((flag.value, why.get(flag, "")) for flag in classification.flags),
        why=deciding_sentence(classification),
        reasons=classification.reasons,
    )


def view_record(record: Mapping[str, Any]) -> DecisionRow:
    """An audit record as a row (approval events show their event as the decision)."""
    decision = record.get("decision") or record.get("event") or "?"
    stamp = record_time(record)
    return DecisionRow(
        seq=_text(record.get("seq")),
        stamp=stamp,
        time=stamp[:23].replace("T", " "),
        server=_text(record.get("server")),
        agent=_text(record.get("agent")),
        session=_text(record.get("session")),
        tool=_text(record.get("tool")),
        decision=str(decision),
        rule=_text(record.get("rule")),
        reason=_text(record.get("reason")),
        shadow=str(decision).startswith(SHADOW_PREFIX),
        enforced=_text(record.get("enforced")),
    )


def view_approval(
    approval: Approval,
    *,
    now: float,
    redactor: Redactor,
    risk: RiskView,
    recent: Iterable[Mapping[str, Any]] = (),
) -> ApprovalCard:
    """The card of one approval at `now`, its arguments as the audit log would keep them."""
    request = approval.request
    shown, redacted = redactor.redact(request.arguments)
    resolution = approval.resolution
    settled_by = ""
    if resolution is not None:
        settled_by = f"{resolution.by} via {resolution.channel}"
    return ApprovalCard(
        id=approval.id,
        tool=request.tool,
        server=request.server,
        agent=request.agent,
        session=request.session,
        rule=request.rule or "",
        mode=request.mode.value,
        age=format_duration(now - request.created_at),
        time_left=_time_left(approval, now),
        created=record_time({"at": request.created_at})[:19].replace("T", " "),
        arguments=view_arguments(shown),
        redacted=tuple(redacted),
        risk=risk,
        recent=tuple(view_record(record) for record in reversed(list(recent))),
        status=approval.status.value,
        settled_by=settled_by,
        definition_diff=request.definition_diff or "",
    )


def settled_message(approval: Approval, *, mine: bool) -> str:
    """What the page says about an approval that is no longer waiting."""
    resolution = approval.resolution
    if resolution is None:
        return f"This request is {approval.status.value}."
    # A consumed approval was approved first: say what the person did.
    status = resolution.status.value
    who = f"{resolution.by} via {resolution.channel}"
    said = resolution.reason and resolution.reason != status
    reason = f": {resolution.reason}" if said else ""
    if mine:
        return f"You {status} this request{reason}."
    return f"Already {status} by {who}{reason}."


def _time_left(approval: Approval, now: float) -> str:
    if approval.status is not Status.REQUESTED:
        return "answered"
    left = approval.request.expires_at - now
    return format_duration(left) if left > 0 else "expired"


def _text(value: Any) -> str:
    return "" if value is None else str(value)
