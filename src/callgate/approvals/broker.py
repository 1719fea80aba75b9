"""The approval broker: what happens to a call the policy says needs approval.

`ApprovalBroker.judge` takes the call and the engine's `APPROVAL_REQUIRED` decision and
returns an `ApprovalOutcome` (go ahead, or a denial with a reason the agent can act on):

- a standing grant for the same fingerprint (this session, or for N minutes) lets the call
  through at once;
- `wait` mode: a request is stored, operators are notified, the client is asked when it
  can be (`ClientAsk`), and the call is held until the first answer or the timeout (no
  answer means denied); an approval is consumed by exactly this call;
- `retry` mode: the agent is answered at once with the approval id; once approved, the same
  call (same fingerprint) goes through once.

With no channel that could answer, the call is denied and the reason says so. Every step is
emitted to the `EventSink`. `approve` and `deny` are the operator side (CLI, admin API).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from callgate.approvals.clock import Clock, SystemClock
from callgate.approvals.elicitation import ClientAnswer, ClientAsk, resolution_for
from callgate.approvals.fingerprint import fingerprint_call
from callgate.approvals.model import (
    Approval,
    ApprovalEvent,
    ApprovalRequest,
    EventKind,
    EventSink,
    Grant,
    GrantScope,
    Mode,
    Resolution,
    Status,
    discard_events,
    event_for,
)
from callgate.approvals.store import ApprovalConflict, ApprovalStore
from callgate.policy.decision import Agent, Decision, ToolCall

__all__ = [
    "DEFAULT_TIMEOUT",
    "ApprovalBroker",
    "ApprovalOutcome",
    "ApprovalSettings",
    "Notifier",
    "Progress",
    "approve",
    "deny",
    "new_approval_id",
]

DEFAULT_TIMEOUT = 600.0
"""Seconds a request waits for an answer when neither the rule nor the policy says."""

CLIENT = "client"
OPERATOR = "operator"


class Notifier(Protocol):
    """An operator channel told about each new request (the webhook); must not block."""

    def notify(self, approval: Approval) -> None:
        """Queue the notification; delivery happens off the hot path."""
        ...


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    """The policy's `approvals:` block: mode, default timeout and who may approve."""

    mode: Mode = Mode.WAIT
    timeout: float = DEFAULT_TIMEOUT
    approvers: frozenset[str] = frozenset({CLIENT, OPERATOR})


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    """The broker's answer: go ahead, or not, and why.

    `pending` is true in retry mode while nobody has answered: the agent should retry the
    same call later, quoting nothing but the call itself.
    """

    approved: bool
    reason: str
    approval: Approval | None = None
    grant: Grant | None = None
    pending: bool = False

    @property
    def approval_id(self) -> str | None:
        """The id of the approval this outcome is about."""
        return self.approval.id if self.approval is not None else None


Progress = Callable[[Approval], Awaitable[None]]
"""Keeps the client of a held call informed (progress notifications) until cancelled."""


def new_approval_id() -> str:
    """A short unguessable approval id (`ap_` and 16 url-safe characters)."""
    return "ap_" + secrets.token_urlsafe(12)


@dataclass(slots=True)
class ApprovalBroker:
    """Holds, asks, waits and consumes; one per proxy, shared by every session."""

    store: ApprovalStore
    settings: ApprovalSettings = field(default_factory=ApprovalSettings)
    clock: Clock = field(default_factory=SystemClock)
    events: EventSink = discard_events
    notifiers: Sequence[Notifier] = ()
    new_id: Callable[[], str] = new_approval_id
    operator_reachable: bool = True
    """False when no operator can answer (a process-local store and no admin API)."""

    async def judge(
        self,
        call: ToolCall,
        agent: Agent,
        session: str,
        decision: Decision,
        *,
        category: str | None = None,
        ask_client: ClientAsk | None = None,
        settings: ApprovalSettings | None = None,
        progress: Progress | None = None,
        definition_diff: str | None = None,
    ) -> ApprovalOutcome:
        """Decide whether a call that needs approval may go upstream now.

        `settings` overrides the broker's own (the policy in force may have been reloaded);
        `progress` runs while a call is held in wait mode; `definition_diff` is shown to
        the approver (a tool whose definition changed since it was pinned).
        """
        settings = settings or self.settings
        granted = await self.standing_grant(call, agent, session, decision)
        if granted is not None:
            return granted
        fingerprint = fingerprint_call(call, agent)
        can_ask_client = ask_client is not None and CLIENT in settings.approvers
        can_ask_operator = self.operator_reachable and OPERATOR in settings.approvers
        if settings.mode is Mode.RETRY:
            if not can_ask_operator:
                return _no_channel(decision, "retry mode needs a reachable operator channel")
            return await self._retry(
                fingerprint,
                call,
                agent,
                session=session,
                decision=decision,
                category=category,
                settings=settings,
                definition_diff=definition_diff,
            )
        if not can_ask_client and not can_ask_operator:
            return _no_channel(decision, _why_no_channel(settings, self.operator_reachable))
        approval = await self.open_request(
            call,
            agent,
            session,
            decision,
            category=category,
            fingerprint=fingerprint,
            settings=settings,
            definition_diff=definition_diff,
        )
        return await self.wait(approval, ask_client if can_ask_client else None, progress)

    async def standing_grant(
        self, call: ToolCall, agent: Agent, session: str, decision: Decision
    ) -> ApprovalOutcome | None:
        """The approved outcome of a standing grant for this call, if one covers it."""
        fingerprint = fingerprint_call(call, agent)
        grant = await self.store.find_grant(fingerprint, session, self.clock.now())
        if grant is None:
            return None
        return await self._through_grant(grant, call, agent, session, decision)

    async def open_request(
        self,
        call: ToolCall,
        agent: Agent,
        session: str,
        decision: Decision,
        *,
        category: str | None = None,
        fingerprint: str | None = None,
        mode: Mode | None = None,
        settings: ApprovalSettings | None = None,
        definition_diff: str | None = None,
    ) -> Approval:
        """Store a new request, audit it and notify the operator channels."""
        settings = settings or self.settings
        now = self.clock.now()
        timeout = decision.approval_timeout or settings.timeout
        request = ApprovalRequest(
            id=self.new_id(),
            fingerprint=fingerprint or fingerprint_call(call, agent),
            server=call.server,
            tool=call.tool,
            arguments=call.arguments,
            agent=agent.name,
            session=session,
            rule=decision.rule,
            category=category,
            mode=mode or settings.mode,
            created_at=now,
            expires_at=now + timeout,
            definition_diff=definition_diff,
        )
        approval = await self.store.create(request)
        self.events(event_for(EventKind.REQUESTED, request, now, timeout=timeout))
        if OPERATOR in settings.approvers:
            for notifier in self.notifiers:
                notifier.notify(approval)
        return approval

    async def wait(
        self,
        approval: Approval,
        ask_client: ClientAsk | None = None,
        progress: Progress | None = None,
    ) -> ApprovalOutcome:
        """Hold until the first answer (client or operator) or the timeout, then consume.

        `progress` keeps the client informed meanwhile. Cancelling the caller (the client
        cancelled the call) withdraws the request.
        """
        settled: Approval | None = None
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    nonlocal settled, failure
                    try:
                        settled = await self.store.wait_resolved(approval.id)
                    except Exception as error:  # the store failed: raised below, unwrapped
                        failure = error
                    group.cancel_scope.cancel()

                async def expire() -> None:
                    nonlocal settled, failure
                    await self.clock.sleep_until(approval.request.expires_at)
                    try:
                        settled = await self._settle(approval, _expiry(approval, self.clock.now()))
                    except Exception as error:
                        failure = error
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                group.start_soon(expire)
                if ask_client is not None:
                    group.start_soon(self._ask_client, approval, ask_client)
                if progress is not None:
                    group.start_soon(_inform, approval, progress)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._settle(
                    approval,
                    Resolution(
                        Status.WITHDRAWN,
                        approval.request.agent,
                        "client",
                        "the client cancelled the call",
                        self.clock.now(),
                    ),
                )
            raise
        if failure is not None:
            raise failure
        assert settled is not None  # the group ends only after watch or expire set it
        return await self._finish(settled)

    async def answer_from_client(
        self,
        approval_id: str,
        call: ToolCall,
        agent: Agent,
        answer: ClientAnswer | None,
        progress: Progress | None = None,
    ) -> ApprovalOutcome:
        """A 2026-07-28 retry carrying the client's answer to the `input_required` prompt.

        The retried call must be the call that was asked about; without an answer the call
        waits for the operators like `wait` mode.
        """
        approval = await self.store.get(approval_id)
        if approval.request.fingerprint != fingerprint_call(call, agent):
            return ApprovalOutcome(
                approved=False,
                reason=f"approval {approval_id} was asked for a different call",
                approval=approval,
            )
        now = self.clock.now()
        if approval.status is Status.REQUESTED and now >= approval.request.expires_at:
            return await self._finish(await self._settle(approval, _expiry(approval, now)))
        if answer is None:
            return await self.wait(approval, progress=progress)
        settled = await self._settle(approval, resolution_for(answer, agent.name, now))
        return await self._finish(settled)

    async def _ask_client(self, approval: Approval, ask_client: ClientAsk) -> None:
        try:
            answer = await ask_client(approval)
            await self._settle(
                approval, resolution_for(answer, approval.request.agent, self.clock.now())
            )
        except Exception:
            # A client that cannot answer leaves the decision to the operators or the timeout.
            return

    async def _retry(
        self,
        fingerprint: str,
        call: ToolCall,
        agent: Agent,
        *,
        session: str,
        decision: Decision,
        category: str | None,
        settings: ApprovalSettings,
        definition_diff: str | None = None,
    ) -> ApprovalOutcome:
        now = self.clock.now()
        latest = await self.store.latest_for(fingerprint)
        if latest is not None:
            if latest.status is Status.REQUESTED and now >= latest.request.expires_at:
                await self._settle(latest, _expiry(latest, now))
            elif latest.status is Status.REQUESTED:
                return _pending(latest)
            elif latest.status is Status.APPROVED and now < (latest.usable_until() or 0.0):
                return await self._finish(latest)
            elif (
                latest.status is Status.DENIED
                and latest.resolution is not None
                and now < latest.resolution.at + latest.request.timeout
            ):
                return _denied(latest)
        approval = await self.open_request(
            call,
            agent,
            session,
            decision,
            category=category,
            fingerprint=fingerprint,
            settings=settings,
            definition_diff=definition_diff,
        )
        return _pending(approval)

    async def _through_grant(
        self, grant: Grant, call: ToolCall, agent: Agent, session: str, decision: Decision
    ) -> ApprovalOutcome:
        now = self.clock.now()
        # The approval behind the grant counts as used from its first call on, so it can
        # never also pass as a one-off approval (say, from another session).
        with contextlib.suppress(ApprovalConflict):
            await self.store.consume(grant.approval_id, now)
        self.events(
            _grant_event(grant, call, agent, session=session, rule=decision.rule, now=now),
        )
        return ApprovalOutcome(
            approved=True, reason=f"granted {grant.scope.value} by {grant.by}", grant=grant
        )

    async def _settle(self, approval: Approval, resolution: Resolution) -> Approval:
        """Resolve if still requested and audit it; the first answer wins."""
        try:
            settled = await self.store.resolve(approval.id, resolution)
        except ApprovalConflict as conflict:
            return conflict.current
        self.events(
            event_for(_EVENT_OF[resolution.status], settled.request, resolution.at, resolution)
        )
        return settled

    async def _finish(self, settled: Approval) -> ApprovalOutcome:
        """Consume an approval, or turn any other ending into a denial."""
        if settled.status is not Status.APPROVED:
            return _denied(settled)
        now = self.clock.now()
        try:
            consumed = await self.store.consume(settled.id, now)
        except ApprovalConflict as conflict:
            return _denied(conflict.current)
        self.events(event_for(EventKind.CONSUMED, consumed.request, now, consumed.resolution))
        resolution = consumed.resolution
        assert resolution is not None
        return ApprovalOutcome(
            approved=True,
            reason=f"approved by {resolution.by} via {resolution.channel}",
            approval=consumed,
        )


async def _inform(approval: Approval, progress: Progress) -> None:
    try:
        await progress(approval)
    except Exception:
        # A client that cannot be told (it went away) still gets the decision, if any.
        return


_EVENT_OF = {
    Status.APPROVED: EventKind.APPROVED,
    Status.DENIED: EventKind.DENIED,
    Status.EXPIRED: EventKind.EXPIRED,
    Status.WITHDRAWN: EventKind.WITHDRAWN,
}


def _expiry(approval: Approval, now: float) -> Resolution:
    timeout = approval.request.timeout
    return Resolution(
        Status.EXPIRED, "callgate", "timeout", f"no answer within {timeout:g} seconds", now
    )


def _pending(approval: Approval) -> ApprovalOutcome:
    return ApprovalOutcome(
        approved=False,
        pending=True,
        approval=approval,
        reason=(
            f"approval {approval.id} requested; an operator must approve it, "
            "then retry the same call with the same arguments"
        ),
    )


def _denied(approval: Approval) -> ApprovalOutcome:
    resolution = approval.resolution
    if approval.status is Status.CONSUMED:
        reason = f"approval {approval.id} was already used"
    elif resolution is None:
        reason = f"approval {approval.id} is {approval.status.value}"
    elif approval.status is Status.DENIED:
        reason = f"denied by {resolution.by} via {resolution.channel}: {resolution.reason}"
    else:
        reason = f"approval {approval.status.value}: {resolution.reason}"
    return ApprovalOutcome(approved=False, reason=reason, approval=approval)


def _no_channel(decision: Decision, why: str) -> ApprovalOutcome:
    return ApprovalOutcome(
        approved=False,
        reason=f"approval is required and no approver is configured or reachable ({why})",
    )


def _why_no_channel(settings: ApprovalSettings, operator_reachable: bool) -> str:
    if OPERATOR in settings.approvers and not operator_reachable:
        operator = "operators cannot reach this proxy's process-local approval store"
    elif OPERATOR in settings.approvers:
        operator = "no operator channel"
    else:
        operator = "the policy lists no operator approvers"
    if CLIENT in settings.approvers:
        return f"the client cannot show an approval prompt and {operator}"
    return f"the policy lists no client approvers and {operator}"


def _grant_event(
    grant: Grant, call: ToolCall, agent: Agent, *, session: str, rule: str | None, now: float
) -> ApprovalEvent:
    return ApprovalEvent(
        kind=EventKind.CONSUMED,
        approval_id=grant.approval_id,
        at=now,
        server=call.server,
        tool=call.tool,
        agent=agent.name,
        session=session,
        rule=rule,
        by=grant.by,
        channel=grant.channel,
        reason=f"standing grant ({grant.scope.value})",
        detail={"grant": grant.scope.value},
    )


async def approve(
    store: ApprovalStore,
    approval_id: str,
    *,
    by: str,
    channel: str,
    now: float,
    reason: str = "",
    scope: GrantScope = GrantScope.ONCE,
    for_seconds: float | None = None,
    events: EventSink = discard_events,
) -> Approval:
    """Approve a pending request (operator side); raises `ApprovalConflict` if settled or
    past its timeout (no answer by the timeout means denied, even if nobody noticed yet)."""
    until = now + for_seconds if scope is GrantScope.DURATION and for_seconds else None
    resolution = Resolution(
        Status.APPROVED, by, channel, reason or "approved", now, scope=scope, until=until
    )
    settled = await _resolve_in_time(store, approval_id, resolution, events)
    events(event_for(EventKind.APPROVED, settled.request, now, resolution, scope=scope.value))
    return settled


async def deny(
    store: ApprovalStore,
    approval_id: str,
    *,
    by: str,
    channel: str,
    now: float,
    reason: str,
    events: EventSink = discard_events,
) -> Approval:
    """Deny a pending request (operator side); raises `ApprovalConflict` if settled or
    past its timeout."""
    resolution = Resolution(Status.DENIED, by, channel, reason, now)
    settled = await _resolve_in_time(store, approval_id, resolution, events)
    events(event_for(EventKind.DENIED, settled.request, now, resolution))
    return settled


async def _resolve_in_time(
    store: ApprovalStore, approval_id: str, resolution: Resolution, events: EventSink
) -> Approval:
    """Resolve, unless the request has timed out: then record it expired and refuse."""
    current = await store.get(approval_id)
    if current.status is Status.REQUESTED and resolution.at >= current.request.expires_at:
        expiry = _expiry(current, resolution.at)
        expired = await store.resolve(approval_id, expiry)  # a conflict propagates as is
        events(event_for(EventKind.EXPIRED, expired.request, expiry.at, expiry))
        raise ApprovalConflict(expired)
    return await store.resolve(approval_id, resolution)
