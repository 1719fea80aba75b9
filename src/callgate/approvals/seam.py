"""The gate's approvals seam: turns an APPROVAL_REQUIRED decision into allow or deny.

`GateApprovals.resolve` is what `callgate.proxy.gate.Gate` calls (its `approvals`
collaborator) only for calls the policy says need approval, so every other call pays
nothing. It asks the `ApprovalBroker` with the settings of the policy in force, and maps
the outcome back onto the engine's decision: approved keeps the decision's charges and
becomes ALLOW; anything else becomes a denial whose reason the agent can act on (the
approval id, and what to do next).

What a single tools/call brings beyond call, decision and peer (the client's 2026-07-28
elicitation capability, its answer to an approval prompt) travels in a `CallContext` that
`callgate.approvals.interceptor.ClientApprovalInterceptor` sets around the gate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Final

import anyio

from callgate.approvals.broker import (
    ApprovalBroker,
    ApprovalOutcome,
    ApprovalSettings,
    Progress,
)
from callgate.approvals.elicitation import ClientAnswer, ClientAsk, client_supports_elicitation
from callgate.approvals.model import Approval, Mode
from callgate.approvals.store import ApprovalNotFound
from callgate.policy.decision import Decision, ToolCall, Verdict
from callgate.proxy.hooks import Peer
from callgate.state.store import StoreUnavailable

__all__ = [
    "CALL_CONTEXT",
    "PROGRESS_INTERVAL",
    "CallContext",
    "GateApprovals",
    "settings_from_spec",
]

CLIENT: Final = "client"
PROGRESS_INTERVAL: Final = 5.0
"""Seconds between progress notifications to a client whose call waits for approval."""


@dataclass(slots=True)
class CallContext:
    """One tools/call as the client-approval interceptor saw it.

    In: the request's `_meta` (read only when approval is needed: does it declare 2026-07-28
    elicitation support?), and for a retry of an approval prompt the `approval_id` and the
    client's `answer` (None: no answer yet); `key` and `waiting` let a cancellation find a
    held call.
    Out: `prompt`, the approval to ask the client about in an `input_required` result.
    """

    meta: Any = None
    approval_id: str | None = None
    answer: ClientAnswer | None = None
    prompt: Approval | None = None
    key: tuple[str, str | int] | None = None
    waiting: dict[tuple[str, str | int], anyio.CancelScope] | None = None
    ask_client: ClientAsk | None = None
    """Asks the client over the transport (2025-11-25 `elicitation/create`), when it can."""
    progress_interval: float = PROGRESS_INTERVAL
    """Seconds between progress notifications while the call waits (with a progressToken)."""

    @property
    def progress_token(self) -> str | int | None:
        """The request's `_meta.progressToken`, when it asked for progress."""
        token = self.meta.get("progressToken") if isinstance(self.meta, dict) else None
        return token if isinstance(token, str | int) and not isinstance(token, bool) else None

    @property
    def can_elicit(self) -> bool:
        """Whether the request declares (2026-07-28) that its client can show a form."""
        return client_supports_elicitation(None, self.meta if isinstance(self.meta, dict) else None)

    def hold(self) -> anyio.CancelScope:
        """A cancel scope for a wait, registered so a client cancellation can end it."""
        scope = anyio.CancelScope()
        if self.waiting is not None and self.key is not None:
            self.waiting[self.key] = scope
        return scope

    def release(self) -> None:
        """The wait is over: forget its cancel scope."""
        if self.waiting is not None and self.key is not None:
            self.waiting.pop(self.key, None)


CALL_CONTEXT: ContextVar[CallContext | None] = ContextVar("callgate_approval_call", default=None)


def settings_from_spec(spec: Any) -> ApprovalSettings:
    """Broker settings from the policy's `approvals:` block (`ApprovalsSpec`)."""
    return ApprovalSettings(
        mode=Mode(spec.mode), timeout=float(spec.timeout), approvers=frozenset(spec.approvers)
    )


@dataclass(slots=True)
class GateApprovals:
    """The gate's `Approvals` collaborator."""

    broker: ApprovalBroker
    settings: Callable[[], ApprovalSettings]
    categorize: Callable[[str, str], str | None] | None = None
    """(server, tool) -> risk category (the gate's classifier), shown in approval prompts."""
    definition_diff: Callable[[str, str], str | None] | None = None
    """(server, tool) -> how its listed definition differs from its pin (the pin check),
    stored with the request for the approver; None: never shown."""

    async def resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        """ALLOW (with the decision's charges) when approved now, else a denial saying why.

        Fails closed: an unreachable approval store or an unknown approval id denies.
        """
        try:
            return await self._resolve(call, decision, peer)
        except StoreUnavailable as error:
            reason = f"approval is required and the approval store is unreachable: {error}"
        except ApprovalNotFound as error:
            reason = f"{error}; call again to ask for a new approval"
        return Decision(Verdict.DENY, rule=decision.rule, reason=reason)

    async def _resolve(self, call: ToolCall, decision: Decision, peer: Peer) -> Decision:
        settings = self.settings()
        context = CALL_CONTEXT.get()
        if context is not None and context.approval_id is not None:
            approval_id, answer = context.approval_id, context.answer
            progress = self._progress(context, peer)
            outcome = await _held(
                context,
                lambda: self.broker.answer_from_client(
                    approval_id, call, peer.agent, answer, progress
                ),
            )
            return _decision_of(outcome, decision)
        if (
            context is not None
            and context.can_elicit
            and settings.mode is Mode.WAIT
            and CLIENT in settings.approvers
        ):
            grant = await self.broker.standing_grant(call, peer.agent, peer.session, decision)
            if grant is not None:
                return _decision_of(grant, decision)
            context.prompt = await self.broker.open_request(
                call,
                peer.agent,
                peer.session,
                decision,
                category=self._category(call),
                mode=Mode.WAIT,
                definition_diff=self._diff(call),
            )
            return Decision(
                Verdict.APPROVAL_REQUIRED,
                rule=decision.rule,
                reason=f"approval {context.prompt.id} is being asked in the client",
            )
        outcome = await _held(
            context,
            lambda: self.broker.judge(
                call,
                peer.agent,
                peer.session,
                decision,
                category=self._category(call),
                ask_client=context.ask_client if context is not None else None,
                settings=settings,
                progress=self._progress(context, peer),
                definition_diff=self._diff(call),
            ),
        )
        return _decision_of(outcome, decision)

    def _progress(self, context: CallContext | None, peer: Peer) -> Progress | None:
        """Progress notifications for a held call, when the client asked for them
        (`_meta.progressToken`) and the transport can send them."""
        notifier = peer.notifier
        token = context.progress_token if context is not None else None
        if notifier is None or token is None or context is None:
            return None
        clock, interval = self.broker.clock, context.progress_interval

        async def keep_informed(approval: Approval) -> None:
            beat = 0
            while True:
                beat += 1
                params = {
                    "progressToken": token,
                    "progress": beat,
                    "message": f"waiting for approval {approval.id}",
                }
                await notifier.notify("notifications/progress", params)
                await clock.sleep_until(clock.now() + interval)

        return keep_informed

    def _category(self, call: ToolCall) -> str | None:
        """The tool's risk category, when a categorizer is wired in."""
        return self.categorize(call.server, call.tool) if self.categorize else None

    def _diff(self, call: ToolCall) -> str | None:
        """How the tool's definition differs from its pin, when the pin check is wired in."""
        return self.definition_diff(call.server, call.tool) if self.definition_diff else None


async def _held(
    context: CallContext | None, work: Callable[[], Awaitable[ApprovalOutcome]]
) -> ApprovalOutcome:
    """Run `work` (which may wait for a person) so a client cancellation ends it."""
    if context is None:
        return await work()
    with context.hold():
        try:
            return await work()
        finally:
            context.release()
    # Only reached when the client cancelled: the broker has withdrawn the request.
    return ApprovalOutcome(approved=False, reason="the client cancelled the call")


def _decision_of(outcome: ApprovalOutcome, decision: Decision) -> Decision:
    if outcome.approved:
        return replace(decision, verdict=Verdict.ALLOW, reason=outcome.reason)
    # A person (or the timeout) said no: DENY. Still waiting, or nobody could be asked:
    # the approval is still required.
    asked = outcome.approval is not None and not outcome.pending
    verdict = Verdict.DENY if asked else Verdict.APPROVAL_REQUIRED
    return Decision(verdict, rule=decision.rule, reason=outcome.reason)
