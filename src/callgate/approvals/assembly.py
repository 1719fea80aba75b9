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

    try:
        webhook = _build_webhook(policy_approvals().webhook, environ, events)
        broker = ApprovalBroker(
            store,
            settings=settings(),
            events=events,
            notifiers=[webhook] if webhook is not None else [],
            operator_reachable=not (state_url or "").startswith("memory:"),
        )
        seam = GateApprovals(broker, settings)
        if webhook is None:
            yield seam
            return
        try:
            async with anyio.create_task_group() as group:
                await group.start(webhook.run)
                try:
                    yield seam
                finally:
                    webhook.close()
                    # Queued notifications get a moment to go out; shutdown never hangs.
                    group.cancel_scope.deadline = anyio.current_time() + SHUTDOWN_GRACE
        except BaseExceptionGroup as errors:
            # The caller's own exception passed through our task group: hand it back as is.
            if len(errors.exceptions) == 1:
                raise errors.exceptions[0] from None
            raise
    finally:
        await store.aclose()


def _build_webhook(
    spec: Any, environ: Mapping[str, str], events: Callable[[ApprovalEvent], None]
) -> WebhookNotifier | None:
    """The webhook notifier the policy asks for, if any; raises `ApprovalSetupError`."""
    if spec is None:
        return None
    # Imported here: the HTTP client costs start-up time only webhook users pay.
    from callgate.approvals.webhook import WebhookNotifier, webhook_secret  # noqa: PLC0415

    secret = webhook_secret(spec.secret_env, environ)
    return WebhookNotifier(spec.url, secret=secret, events=events)
