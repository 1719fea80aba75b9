"""Approval requests, their resolutions, grants and audit events (plain data, no I/O).

An `Approval` moves through these statuses, each step once and atomically in the store:

    requested ──► approved ──► consumed        (the call went through)
        │  └────► denied                       (by a person, with a reason)
        ├───────► expired                      (no answer by the timeout: denied)
        └───────► withdrawn                    (the client cancelled the waiting call)

An approver may grant more than the one call: "for this session" or "for N minutes" for the
same fingerprint (server, tool, exact arguments, agent); that is a `Grant`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

__all__ = [
    "Approval",
    "ApprovalEvent",
    "ApprovalRequest",
    "EventKind",
    "EventSink",
    "Grant",
    "GrantScope",
    "Mode",
    "Resolution",
    "Status",
    "discard_events",
]


class Status(StrEnum):
    """Where an approval stands."""

    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CONSUMED = "consumed"
    WITHDRAWN = "withdrawn"


OPEN_STATUSES = frozenset({Status.REQUESTED, Status.APPROVED})


class Mode(StrEnum):
    """How the agent waits: hold the call open, or answer at once and let it retry."""

    WAIT = "wait"
    RETRY = "retry"


class GrantScope(StrEnum):
    """How much an approval lets through."""

    ONCE = "once"
    SESSION = "session"
    DURATION = "duration"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """The immutable facts of one request: which call, from whom, why, until when."""

    id: str
    fingerprint: str
    server: str
    tool: str
    arguments: Mapping[str, Any]
    agent: str
    session: str
    rule: str | None
    category: str | None
    mode: Mode
    created_at: float
    expires_at: float
    definition_diff: str | None = None
    """For a call held because its tool's definition changed since it was pinned
    (`integrity: on_change: require_approval`): the unified diff from the pinned definition
    to the listed one, for the approver to read. None for every other request."""

    def summary(self) -> dict[str, Any]:
        """The request as a JSON-ready dict: what operators are shown and webhooks sent."""
        return {
            "id": self.id,
            "server": self.server,
            "tool": self.tool,
            "arguments": dict(self.arguments),
            "agent": self.agent,
            "session": self.session,
            "rule": self.rule,
            "category": self.category,
            "mode": self.mode.value,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "definition_diff": self.definition_diff,
        }

    @property
    def timeout(self) -> float:
        """Seconds the request may wait for an answer."""
        return self.expires_at - self.created_at


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a request was settled: approved or denied by someone, or expired/withdrawn.

    `until` bounds a `DURATION` grant; an approval of one call stays usable for the
    request's timeout after the decision (the agent in retry mode needs time to retry).
    """

    status: Status
    by: str
    channel: str
    reason: str
    at: float
    scope: GrantScope = GrantScope.ONCE
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Approval:
    """A request with where it stands."""

    request: ApprovalRequest
    status: Status = Status.REQUESTED
    resolution: Resolution | None = None
    consumed_at: float | None = None

    @property
    def id(self) -> str:
        """The approval id shown to people and agents."""
        return self.request.id

    def usable_until(self) -> float | None:
        """Until when an approved call may still go through (None when not approved)."""
        if self.status is not Status.APPROVED or self.resolution is None:
            return None
        return self.resolution.at + self.request.timeout

    def to_dict(self) -> dict[str, Any]:
        """The approval as a JSON-ready dict (CLI `--json`, admin API)."""
        return {
            **self.request.summary(),
            "status": self.status.value,
            "resolution": asdict(self.resolution) if self.resolution is not None else None,
            "consumed_at": self.consumed_at,
            "fingerprint": self.request.fingerprint,
        }

    def with_status(
        self, status: Status, resolution: Resolution | None = None, consumed_at: float | None = None
    ) -> Approval:
        """A copy moved to `status`."""
        return replace(
            self,
            status=status,
            resolution=resolution if resolution is not None else self.resolution,
            consumed_at=consumed_at if consumed_at is not None else self.consumed_at,
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """Standing permission for one fingerprint: within one session, or until a time."""

    approval_id: str
    fingerprint: str
    scope: GrantScope
    session: str | None
    expires_at: float | None
    by: str
    channel: str

    def covers(self, fingerprint: str, session: str, now: float) -> bool:
        """True when this grant lets the call with `fingerprint` in `session` through at `now`."""
        if fingerprint != self.fingerprint:
            return False
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return self.scope is not GrantScope.SESSION or session == self.session


class EventKind(StrEnum):
    """The audited steps of an approval."""

    REQUESTED = "approval.requested"
    NOTIFIED = "approval.notified"
    NOTIFY_FAILED = "approval.notify_failed"
    APPROVED = "approval.approved"
    DENIED = "approval.denied"
    EXPIRED = "approval.expired"
    WITHDRAWN = "approval.withdrawn"
    CONSUMED = "approval.consumed"


@dataclass(frozen=True, slots=True)
class ApprovalEvent:
    """One audited step: what happened to which approval, when, by whom and how."""

    kind: EventKind
    approval_id: str
    at: float
    server: str
    tool: str
    agent: str
    session: str
    rule: str | None
    by: str | None = None
    channel: str | None = None
    reason: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict for audit sinks."""
        return {
            "event": self.kind.value,
            "approval_id": self.approval_id,
            "at": self.at,
            "server": self.server,
            "tool": self.tool,
            "agent": self.agent,
            "session": self.session,
            "rule": self.rule,
            "by": self.by,
            "channel": self.channel,
            "reason": self.reason,
            **({"detail": dict(self.detail)} if self.detail else {}),
        }


EventSink = Callable[[ApprovalEvent], None]
"""Receives every approval event; must not block (the audit log queues it)."""


def discard_events(event: ApprovalEvent) -> None:
    """An event sink that keeps nothing."""


def event_for(
    kind: EventKind,
    request: ApprovalRequest,
    at: float,
    resolution: Resolution | None = None,
    *,
    channel: str | None = None,
    **detail: Any,
) -> ApprovalEvent:
    """Build the event `kind` about `request`, with who/channel/reason from `resolution`
    (`channel` names the channel of a step without a resolution, such as a notification)."""
    return ApprovalEvent(
        kind=kind,
        approval_id=request.id,
        at=at,
        server=request.server,
        tool=request.tool,
        agent=request.agent,
        session=request.session,
        rule=request.rule,
        by=resolution.by if resolution else None,
        channel=resolution.channel if resolution else channel,
        reason=resolution.reason if resolution else None,
        detail=detail,
    )


# Records: how every backend writes approvals and grants (compact JSON, the field names).


def _dump(record: Any) -> str:
    return json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":"))


def dump_request(request: ApprovalRequest) -> str:
    """The request as JSON text."""
    return _dump(request)


def load_request(text: str) -> ApprovalRequest:
    """A request from its JSON text."""
    data = json.loads(text)
    return ApprovalRequest(**{**data, "mode": Mode(data["mode"])})


def dump_resolution(resolution: Resolution | None) -> str | None:
    """The resolution as JSON text (None stays None)."""
    return _dump(resolution) if resolution is not None else None


def load_resolution(text: str | None) -> Resolution | None:
    """A resolution from its JSON text."""
    if text is None:
        return None
    data = json.loads(text)
    return Resolution(
        **{**data, "status": Status(data["status"]), "scope": GrantScope(data["scope"])}
    )


def dump_grant(grant: Grant) -> str:
    """The grant as JSON text."""
    return _dump(grant)


def load_grant(text: str) -> Grant:
    """A grant from its JSON text."""
    data = json.loads(text)
    return Grant(**{**data, "scope": GrantScope(data["scope"])})
