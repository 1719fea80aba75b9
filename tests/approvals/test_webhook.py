"""The webhook channel against a real HTTP receiver that checks the signature."""

from __future__ import annotations

import json

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callgate.approvals.broker import ApprovalBroker, ApprovalSettings
from callgate.approvals.model import Approval, Mode
from callgate.approvals.store import ApprovalSetupError
from callgate.approvals.webhook import (
    SIGNATURE_HEADER,
    WebhookNotifier,
    sign_body,
    verify_signature,
    webhook_secret,
)
from callgate.state.approvals_memory import MemoryApprovalStore
from tests.approvals.helpers import AGENT, EventLog, call, needs_approval, request_for
from tests.approvals.receiver import serving

pytestmark = pytest.mark.anyio

SECRET = b"s3cret-hook-key"


class Receiver:
    """A webhook endpoint that verifies signatures and fails its first `failures` requests."""

    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.attempts = 0
        self.accepted: list[dict[str, object]] = []
        self.rejected_signatures = 0
        self.got_one = anyio.Event()

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        self.attempts += 1
        if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), SECRET):
            self.rejected_signatures += 1
            return Response(status_code=401)
        if self.attempts <= self.failures:
            return Response(status_code=self.status)
        self.accepted.append(json.loads(body))
        self.got_one.set()
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.endpoint, methods=["POST"])])


def notifier_for(
    url: str, events: EventLog, *, secret: bytes = SECRET, attempts: int = 5
) -> WebhookNotifier:
    return WebhookNotifier(
        url + "/hook", secret=secret, events=events, attempts=attempts, backoff=lambda _: 0.01
    )


async def deliver(notifier: WebhookNotifier, *approvals: Approval) -> None:
    """Queue the approvals, then let `run` drain them and return."""
    async with anyio.create_task_group() as group:
        await group.start(notifier.run)
        for approval in approvals:
            notifier.notify(approval)
        notifier.close()


async def test_a_new_request_is_posted_signed_with_the_call_details() -> None:
    receiver, events = Receiver(), EventLog()
    store = MemoryApprovalStore()
    async with serving(receiver.app()) as url:
        notifier = notifier_for(url, events)
        broker = ApprovalBroker(
            store, settings=ApprovalSettings(mode=Mode.RETRY), events=events, notifiers=[notifier]
        )
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                await group.start(notifier.run)
                outcome = await broker.judge(call(bucket="prod"), AGENT, "s1", needs_approval())
                await receiver.got_one.wait()
                notifier.close()

    [body] = receiver.accepted
    assert body["event"] == "approval.requested"
    approval = body["approval"]
    assert isinstance(approval, dict)
    assert approval["id"] == outcome.approval_id
    assert (approval["tool"], approval["server"], approval["agent"]) == (
        "delete_bucket",
        "s3",
        "ops-bot",
    )
    assert approval["arguments"] == {"bucket": "prod"}
    assert approval["rule"] == "approve-deletes"
    assert body["approve"] == f"callgate approvals approve {outcome.approval_id}"
    assert events.kinds == ["requested", "notified"]
    assert events.events[1].channel == "webhook"


async def test_failed_deliveries_are_retried_with_backoff() -> None:
    receiver, events = Receiver(failures=2), EventLog()
    async with serving(receiver.app()) as url:
        with anyio.fail_after(10):
            await deliver(notifier_for(url, events), Approval(request_for("ap_1")))

    assert receiver.attempts == 3 and len(receiver.accepted) == 1
    assert events.kinds == ["notified"]
    assert events.events[0].detail == {"status": 204, "attempts": 3}


async def test_delivery_gives_up_after_the_last_attempt_and_says_so() -> None:
    receiver, events = Receiver(failures=100), EventLog()
    async with serving(receiver.app()) as url:
        with anyio.fail_after(10):
            await deliver(notifier_for(url, events, attempts=3), Approval(request_for("ap_1")))

    assert receiver.attempts == 3 and receiver.accepted == []
    assert events.kinds == ["notify_failed"]
    assert events.events[0].detail == {"attempts": 3, "error": "HTTP 503"}


async def test_a_client_error_is_not_retried() -> None:
    receiver, events = Receiver(), EventLog()
    async with serving(receiver.app()) as url:
        with anyio.fail_after(10):
            await deliver(
                notifier_for(url, events, secret=b"wrong-key"), Approval(request_for("ap_1"))
            )

    assert receiver.attempts == 1 and receiver.rejected_signatures == 1
    assert events.events[0].detail == {"attempts": 1, "error": "HTTP 401"}


async def test_an_unreachable_receiver_is_reported_not_raised() -> None:
    events = EventLog()
    async with serving(Receiver().app()) as url:
        pass  # the server is gone: its port refuses connections now
    with anyio.fail_after(10):
        await deliver(notifier_for(url, events, attempts=2), Approval(request_for("ap_1")))

    assert events.kinds == ["notify_failed"]
    assert "ConnectError" in str(events.events[0].detail["error"])


def test_the_signature_is_the_hmac_of_the_exact_body() -> None:
    body = b'{"event":"approval.requested"}'
    signature = sign_body(body, SECRET)

    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature(body, signature, SECRET)
    assert not verify_signature(body + b" ", signature, SECRET)
    assert not verify_signature(body, signature, b"other")
    assert not verify_signature(body, None, SECRET)


def test_a_named_secret_variable_must_be_set() -> None:
    assert webhook_secret(None, {}) is None
    assert webhook_secret("HOOK_KEY", {"HOOK_KEY": "abc"}) == b"abc"
    with pytest.raises(ApprovalSetupError, match="HOOK_KEY"):
        webhook_secret("HOOK_KEY", {})
