"""The webhook channel: a signed JSON POST per new approval request, off the hot path.

`notify` only queues; `run` (a background task of the proxy) delivers, retrying connection
errors, timeouts, 429 and 5xx with exponential backoff, and audits the delivery as
`approval.notified` (or `approval.notify_failed` when it gives up). The body is JSON:

    {"event": "approval.requested", "approval": {id, server, tool, arguments, agent,
     session, rule, category, mode, created_at, expires_at},
     "approve": "callgate approvals approve ID", "deny": "callgate approvals deny ID --reason ..."}

With a secret, the header `X-Callgate-Signature: sha256=<hex>` carries the HMAC-SHA256 of
the exact body bytes under it, so the receiver can check the body came from callgate
(`verify_signature`). The body holds the call's arguments: the receiver is an operator
channel and needs them to decide.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Final

import anyio
import anyio.abc
import httpx2
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from callgate.approvals.model import Approval, EventKind, EventSink, discard_events, event_for
from callgate.approvals.store import ApprovalSetupError

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookNotifier",
    "sign_body",
    "verify_signature",
    "webhook_body",
    "webhook_secret",
]

SIGNATURE_HEADER: Final = "X-Callgate-Signature"
_RETRY_STATUSES = frozenset({408, 425, 429})


def sign_body(body: bytes, secret: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: bytes) -> bool:
    """True when `header` is the signature of `body` under `secret` (constant time)."""
    return header is not None and hmac.compare_digest(header, sign_body(body, secret))


def webhook_secret(secret_env: str | None, environ: Mapping[str, str]) -> bytes | None:
    """The HMAC key from the environment variable the policy names; raises
    `ApprovalSetupError` when it is unset or empty (never send unsigned by accident)."""
    if secret_env is None:
        return None
    value = environ.get(secret_env, "")
    if not value:
        raise ApprovalSetupError(
            f"approvals.webhook.secret_env names {secret_env!r}, which is unset or empty"
        )
    return value.encode()


def webhook_body(approval: Approval) -> bytes:
    """The JSON body announcing a new request."""
    request = approval.request
    document = {
        "event": EventKind.REQUESTED.value,
        "approval": request.summary(),
        "approve": f"callgate approvals approve {request.id}",
        "deny": f"callgate approvals deny {request.id} --reason TEXT",
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def exponential_backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (1-based): 0.5, 1, 2, 4 ... capped at 30."""
    return min(0.5 * 2.0 ** (attempt - 1), 30.0)


class WebhookNotifier:
    """Queues one POST per new request and delivers them from `run`."""

    def __init__(
        self,
        url: str,
        *,
        secret: bytes | None = None,
        events: EventSink = discard_events,
        attempts: int = 5,
        backoff: Callable[[int], float] = exponential_backoff,
        timeout: float = 10.0,
        queue_size: int = 1000,
        concurrency: int = 8,
    ) -> None:
        self.url = url
        self._secret = secret
        self._events = events
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._concurrency = concurrency
        self._send: MemoryObjectSendStream[Approval]
        self._receive: MemoryObjectReceiveStream[Approval]
        self._send, self._receive = anyio.create_memory_object_stream[Approval](queue_size)

    def notify(self, approval: Approval) -> None:
        """Queue the POST; a full queue is audited, never waited on."""
        try:
            self._send.send_nowait(approval)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._failed(approval, attempts=0, error="webhook queue full or closed")

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver queued notifications until `close`, at most `concurrency` at a time."""
        limiter = anyio.Semaphore(self._concurrency)
        async with (
            httpx2.AsyncClient(timeout=self._timeout) as client,
            anyio.create_task_group() as group,
        ):
            task_status.started()
            async with self._receive:
                async for approval in self._receive:
                    await limiter.acquire()
                    group.start_soon(self._deliver_released, client, approval, limiter)

    def close(self) -> None:
        """Stop accepting; `run` returns once what is queued has been delivered."""
        self._send.close()

    async def _deliver_released(
        self, client: httpx2.AsyncClient, approval: Approval, limiter: anyio.Semaphore
    ) -> None:
        try:
            await self._deliver(client, approval)
        finally:
            limiter.release()

    async def _deliver(self, client: httpx2.AsyncClient, approval: Approval) -> None:
        body = webhook_body(approval)
        headers = {"Content-Type": "application/json", "X-Callgate-Event": "approval.requested"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign_body(body, self._secret)
        error = ""
        for attempt in range(1, self._attempts + 1):
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx2.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    self._events(
                        event_for(
                            EventKind.NOTIFIED,
                            approval.request,
                            time.time(),
                            channel="webhook",
                            status=response.status_code,
                            attempts=attempt,
                        )
                    )
                    return
                error = f"HTTP {response.status_code}"
                if not _retryable(response.status_code):
                    break
            if attempt < self._attempts:
                await anyio.sleep(self._backoff(attempt))
        self._failed(approval, attempts=attempt, error=error)

    def _failed(self, approval: Approval, *, attempts: int, error: str) -> None:
        self._events(
            event_for(
                EventKind.NOTIFY_FAILED,
                approval.request,
                time.time(),
                channel="webhook",
                attempts=attempts,
                error=error,
            )
        )


def _retryable(status: int) -> bool:
    return status >= 500 or status in _RETRY_STATUSES
