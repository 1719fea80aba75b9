"""Building blocks shared by the approval tests."""

from __future__ import annotations

from typing import Any

from callgate.approvals.fingerprint import fingerprint_call
from callgate.approvals.model import ApprovalEvent, ApprovalRequest, Mode
from callgate.policy.decision import Agent, Decision, ToolCall, Verdict

AGENT = Agent("ops-bot")
NOW = 1_700_000_000.0


def call(tool: str = "delete_bucket", **arguments: Any) -> ToolCall:
    """A call to server `s3` with these arguments (default: bucket=prod)."""
    return ToolCall("s3", tool, arguments or {"bucket": "prod"})


def needs_approval(timeout: float | None = 60.0, rule: str = "approve-deletes") -> Decision:
    """The engine's answer for a call under a require_approval rule."""
    return Decision(Verdict.APPROVAL_REQUIRED, rule=rule, approval_timeout=timeout)


def request_for(
    approval_id: str, the_call: ToolCall | None = None, *, created: float = NOW, timeout: float = 60
) -> ApprovalRequest:
    """A stored-form request for `the_call` by AGENT."""
    the_call = the_call or call()
    return ApprovalRequest(
        id=approval_id,
        fingerprint=fingerprint_call(the_call, AGENT),
        server=the_call.server,
        tool=the_call.tool,
        arguments=the_call.arguments,
        agent=AGENT.name,
        session="session-1",
        rule="approve-deletes",
        category="destructive",
        mode=Mode.WAIT,
        created_at=created,
        expires_at=created + timeout,
    )


class EventLog:
    """An event sink that keeps what it gets."""

    def __init__(self) -> None:
        self.events: list[ApprovalEvent] = []

    def __call__(self, event: ApprovalEvent) -> None:
        self.events.append(event)

    @property
    def kinds(self) -> list[str]:
        """The event kinds in order, without the `approval.` prefix."""
        return [event.kind.value.removeprefix("approval.") for event in self.events]
