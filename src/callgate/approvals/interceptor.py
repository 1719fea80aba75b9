"""Approvals in the agent's own client, and withdrawal on cancel: an interceptor around the gate.

For each `tools/call` it sets a `CallContext` for the gate's approvals seam:

- on the 2026-07-28 envelope, whether the request declares elicitation support (its
  `_meta` client capabilities); when the seam opens a prompt, the gate's denial is replaced
  by an `input_required` result carrying the `elicitation/create` request, and
  `requestState` names the approval;
- when the client retries with that `requestState` and our `inputResponses` entry, the
  answer goes to the seam, and both fields are removed before the call goes upstream (they
  are callgate's, not the server's);
- on 2025-11-25, where the transport can send callgate's own requests (`Peer.client`,
  stdio) and the client declared elicitation at `initialize`, the seam gets a `ClientAsk`
  that sends `elicitation/create` while the call waits (operators may still answer first);
- a `notifications/cancelled` for a call held waiting for approval cancels the wait, which
  withdraws the request;
- the interval of progress notifications to a client whose call waits (the seam sends
  them where the request carried a progress token and the transport can: `Peer.notifier`).

Everything else goes to the inner interceptor untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from callgate.approvals.elicitation import (
    INPUT_KEY,
    ElicitationError,
    ask_over,
    build_input_required_result,
    client_supports_elicitation,
    read_client_answer,
)
from callgate.approvals.seam import CALL_CONTEXT, PROGRESS_INTERVAL, CallContext
from callgate.proxy.hooks import OPENED_SESSION, Forward, Interceptor, Message, Peer, Reply
from callgate.proxy.jsonrpc import INVALID_PARAMS, error_response

__all__ = ["STATE_PREFIX", "ClientApprovalInterceptor"]

STATE_PREFIX: Final = "callgate-approval:"
"""How callgate's `requestState` starts; any other state belongs to the upstream server."""


@dataclass
class ClientApprovalInterceptor:
    """Wraps the gate: client approval prompts (2026-07-28) and withdrawal on cancel."""

    inner: Interceptor
    progress_interval: float = PROGRESS_INTERVAL
    """Seconds between progress notifications to a client whose call waits for approval."""
    _waiting: dict[tuple[str, str | int], anyio.CancelScope] = field(default_factory=dict)
    # Sessions whose client declared form elicitation at initialize (2025-11-25).
    _eliciting: dict[str, bool] = field(default_factory=dict)

    async def on_client_message(self, message: Message, peer: Peer) -> Forward | Reply:
        """Set the call context around `tools/call`; cancel a waiting call on request."""
        if message.method == "tools/call" and message.is_request:
            return await self._call(message, peer)
        if message.method == "initialize" and peer.client is not None:
            self._remember_capabilities(message, peer)
        if message.method == "notifications/cancelled":
            params = message.body.get("params")
            request_id = params.get("requestId") if isinstance(params, dict) else None
            if isinstance(request_id, str | int):
                scope = self._waiting.get((peer.session, request_id))
                if scope is not None:
                    scope.cancel()
        return await self.inner.on_client_message(message, peer)

    async def on_server_message(self, message: Message, peer: Peer) -> Message | None:
        """Pass through; the answer to an HTTP `initialize` names the session it opened."""
        if peer.extra and OPENED_SESSION in peer.extra and peer.session in self._eliciting:
            self._eliciting[peer.extra[OPENED_SESSION]] = self._eliciting.pop(peer.session)
        return await self.inner.on_server_message(message, peer)

    async def on_upstream_lost(self, peer: Peer) -> None:
        """Pass through."""
        await self.inner.on_upstream_lost(peer)

    async def _call(self, message: Message, peer: Peer) -> Forward | Reply:
        body = message.body
        request_id = body.get("id")
        params = body.get("params")
        if not isinstance(params, dict) or not isinstance(request_id, str | int):
            return await self.inner.on_client_message(message, peer)
        context = CallContext(meta=params.get("_meta"), progress_interval=self.progress_interval)
        state = params.get("requestState")
        if isinstance(state, str) and state.startswith(STATE_PREFIX):
            try:
                context.approval_id, context.answer = _answer(state, params)
            except ElicitationError as error:
                return Reply(error_response(request_id, INVALID_PARAMS, str(error)))
            stripped = {k: v for k, v in params.items() if k not in _OURS}
            message = Message({**body, "params": stripped})
        context.key, context.waiting = (peer.session, request_id), self._waiting
        if peer.client is not None and self._eliciting.get(peer.session):
            context.ask_client = ask_over(peer.client)
        token = CALL_CONTEXT.set(context)
        try:
            answer = await self.inner.on_client_message(message, peer)
        finally:
            CALL_CONTEXT.reset(token)
        if context.prompt is not None and isinstance(answer, Reply):
            result = build_input_required_result(context.prompt, STATE_PREFIX + context.prompt.id)
            return Reply({"jsonrpc": "2.0", "id": request_id, "result": result})
        return answer

    def _remember_capabilities(self, message: Message, peer: Peer) -> None:
        params = message.body.get("params")
        capabilities = params.get("capabilities") if isinstance(params, dict) else None
        if len(self._eliciting) >= MAX_SESSIONS:  # oldest first: dicts keep insertion order
            del self._eliciting[next(iter(self._eliciting))]
        self._eliciting[peer.session] = client_supports_elicitation(
            capabilities if isinstance(capabilities, dict) else None, None
        )


MAX_SESSIONS: Final = 10_000
"""Sessions whose initialize capabilities are remembered (the oldest are forgotten)."""

_OURS = frozenset({"requestState", "inputResponses"})


def _answer(state: str, params: Mapping[str, Any]) -> tuple[str, Any]:
    """The approval id in our `requestState` and the client's answer (None if it sent none)."""
    responses = params.get("inputResponses")
    if isinstance(responses, Mapping) and INPUT_KEY in responses:
        return state.removeprefix(STATE_PREFIX), read_client_answer(responses[INPUT_KEY])
    return state.removeprefix(STATE_PREFIX), None
