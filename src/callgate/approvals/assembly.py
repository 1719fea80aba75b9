"""Putting the approval pieces together for one proxy run (called by the composition root).

`open_approvals` opens the approval store named by the `--state` URL, builds the broker
with the audit sink, the webhook notifier from the policy's `approvals.webhook` (its
delivery task runs while the block is open) and the policy's settings read per call (so a
reloaded policy applies at once), and yields the gate's `approvals` collaborator.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from callgate.approvals.broker import ApprovalBroker, ApprovalSettings
from callgate.approvals.model import ApprovalEvent
from callgate.approvals.seam import GateApprovals, settings_from_spec
from callgate.state.approvals_url import open_approval_store

if TYPE_CHECKING:
    from callgate.approvals.webhook import WebhookNotifier

__all__ = ["SHUTDOWN_GRACE", "open_approvals"]

SHUTDOWN_GRACE = 5.0
"""Seconds queued webhook notifications may still take when the proxy stops."""


@asynccontextmanager
async def open_approvals(
    policy_approvals: Callable[[], Any],
    state_url: str | None,
    record: Callable[[Mapping[str, Any]], None],
    *,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[GateApprovals]:
    """The gate's approvals collaborator, ready while the block runs.

    `policy_approvals` returns the `approvals:` block of the policy in force; `record` takes
    each approval event as a dict (the audit sink's `record`). Raises `ApprovalSetupError`
    when the webhook names a secret variable that is unset.
    """
    environ = os.environ if environ is None else environ
    store = open_approval_store(state_url)

    def events(event: ApprovalEvent) -> None:
        record(event.to_dict())

    def settings() -> ApprovalSettings:
        return settings_from_spec(policy_approvals())

    webhooks: list[WebhookNotifier] = []
    try:
        webhook_spec = policy_approvals().webhook
        async with anyio.create_task_group() as group:
            if webhook_spec is not None:
                # Imported here: the HTTP client costs start-up time only webhook users pay.
                from callgate.approvals.webhook import (  # noqa: PLC0415
                    WebhookNotifier,
                    webhook_secret,
                )

                webhook = WebhookNotifier(
                    webhook_spec.url,
                    secret=webhook_secret(webhook_spec.secret_env, environ),
                    events=events,
                )
                webhooks.append(webhook)
                await group.start(webhook.run)
            broker = ApprovalBroker(
                store,
                settings=settings(),
                events=events,
                notifiers=webhooks,
                operator_reachable=not (state_url or "").startswith("memory:"),
            )
            try:
                yield GateApprovals(broker, settings)
            finally:
                for webhook in webhooks:
                    webhook.close()
                # Queued notifications get a moment to go out; shutdown never hangs on them.
                group.cancel_scope.deadline = anyio.current_time() + SHUTDOWN_GRACE
    finally:
        await store.aclose()
