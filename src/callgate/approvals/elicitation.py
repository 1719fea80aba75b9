"""Asking the agent's own client: the elicitation shown to its user, and reading the answer.

Two protocol generations, one prompt:

- 2025-11-25: callgate sends an `elicitation/create` request to the client (when it
  declared the `elicitation` capability at initialize) and waits for its `ElicitResult`.
- 2026-07-28: callgate answers the `tools/call` with an `input_required` result carrying the
  same `elicitation/create` request under `inputRequests`, and the approval id as
  `requestState`; the client retries the call with `inputResponses` and that state.

The prompt shows tool, arguments, risk category and rule. `accept` approves the call,
`decline` denies it, `cancel` (dismissed without a choice) denies it too: an approval rule
never lets a call through unasked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from callgate.approvals.model import Approval, Resolution, Status
from callgate.proxy.hooks import ClientRequests

__all__ = [
    "INPUT_KEY",
    "ClientAnswer",
    "ClientAsk",
    "ElicitationError",
    "ask_over",
    "build_elicitation_params",
    "build_input_required_result",
    "client_supports_elicitation",
    "read_client_answer",
    "resolution_for",
]

INPUT_KEY: Final = "callgate.approval"
"""The key of callgate's request in `inputRequests` (and of the answer in `inputResponses`)."""

_CAPABILITIES_META: Final = "io.modelcontextprotocol/clientCapabilities"
_ARGUMENTS_SHOWN: Final = 2000
_DIFF_SHOWN: Final = 4000
"""Characters of a changed definition's diff shown in a prompt (the rest is in the store)."""


class ElicitationError(ValueError):
    """The client's answer is not a valid elicitation result."""

    code = "approval.bad_elicitation_answer"


@dataclass(frozen=True, slots=True)
class ClientAnswer:
    """What the user did with the prompt, and the note they may have typed."""

    action: Literal["accept", "decline", "cancel"]
    note: str = ""


ClientAsk = Callable[[Approval], Awaitable[ClientAnswer]]
"""Sends the prompt for an approval to the client (2025-11-25) and returns its answer."""


def ask_over(client: ClientRequests) -> ClientAsk:
    """A `ClientAsk` sending `elicitation/create` through a transport's client channel."""

    async def ask(approval: Approval) -> ClientAnswer:
        response = await client.request("elicitation/create", build_elicitation_params(approval))
        if "result" not in response:
            raise ElicitationError(f"the client refused the prompt: {response.get('error')}")
        return read_client_answer(response["result"])

    return ask


def client_supports_elicitation(
    initialize_capabilities: Mapping[str, Any] | None, request_meta: Mapping[str, Any] | None
) -> bool:
    """True when the client can show a form: declared at initialize (2025-11-25) or in the
    request's `_meta` client capabilities (2026-07-28)."""
    if isinstance(initialize_capabilities, Mapping) and isinstance(
        initialize_capabilities.get("elicitation"), Mapping
    ):
        return _supports_form(initialize_capabilities["elicitation"])
    if isinstance(request_meta, Mapping):
        capabilities = request_meta.get(_CAPABILITIES_META)
        if isinstance(capabilities, Mapping) and isinstance(
            capabilities.get("elicitation"), Mapping
        ):
            return _supports_form(capabilities["elicitation"])
    return False


def _supports_form(elicitation: Mapping[str, Any]) -> bool:
    # An empty `elicitation: {}` means form mode (the 2025-06-18 meaning, kept since).
    return not elicitation or "form" in elicitation


def build_elicitation_params(approval: Approval) -> dict[str, Any]:
    """The `elicitation/create` params (form mode) asking the user to approve the call."""
    request = approval.request
    arguments = json.dumps(dict(request.arguments), ensure_ascii=False, sort_keys=True, indent=2)
    if len(arguments) > _ARGUMENTS_SHOWN:
        arguments = arguments[:_ARGUMENTS_SHOWN] + "\n… (truncated)"
    lines = [
        f"callgate: approve this tool call? (approval {request.id})",
        f"Tool: {request.tool} on server {request.server}",
        f"Risk category: {request.category or 'unclassified'}",
        f"Rule: {request.rule or '(unnamed)'}",
        f"Arguments:\n{arguments}",
    ]
    if request.definition_diff:
        # The tool's definition changed since it was pinned: what the person approves.
        diff = request.definition_diff
        if len(diff) > _DIFF_SHOWN:
            diff = diff[:_DIFF_SHOWN] + "\n… (truncated)"
        lines.append(f"The tool's definition changed since it was pinned:\n{diff}")
    lines.append("Accept to let this exact call through once; decline to refuse it.")
    return {
        "mode": "form",
        "message": "\n".join(lines),
        "requestedSchema": {
            "type": "object",
            "properties": {
                "note": {
                    "type": "string",
                    "title": "Note",
                    "description": "Optional: why you approve or refuse (kept in the audit log).",
                }
            },
        },
        "_meta": {
            "callgate/approval": {
                "id": request.id,
                "tool": request.tool,
                "server": request.server,
                "arguments": dict(request.arguments),
                "category": request.category,
                "rule": request.rule,
                "definition_diff": request.definition_diff,
            }
        },
    }


def build_input_required_result(approval: Approval, state: str) -> dict[str, Any]:
    """The 2026-07-28 `input_required` result asking the client to elicit the approval;
    the client sends `state` back verbatim as `requestState` when it retries."""
    return {
        "resultType": "input_required",
        "inputRequests": {
            INPUT_KEY: {
                "method": "elicitation/create",
                "params": build_elicitation_params(approval),
            }
        },
        "requestState": state,
    }


def read_client_answer(result: Any) -> ClientAnswer:
    """The answer in an `ElicitResult` (a JSON object); raises `ElicitationError`."""
    if not isinstance(result, Mapping):
        raise ElicitationError("the elicitation result is not an object")
    action = result.get("action")
    if action not in ("accept", "decline", "cancel"):
        raise ElicitationError(f"unknown elicitation action {action!r}")
    content = result.get("content")
    note = ""
    if isinstance(content, Mapping) and isinstance(content.get("note"), str):
        note = content["note"]
    return ClientAnswer(action=action, note=note)


def resolution_for(answer: ClientAnswer, by: str, at: float) -> Resolution:
    """The resolution a client's answer makes."""
    if answer.action == "accept":
        reason = answer.note or "accepted in the client"
        return Resolution(Status.APPROVED, by, "client", reason, at)
    if answer.action == "decline":
        reason = answer.note or "the user declined the call in the client"
        return Resolution(Status.DENIED, by, "client", reason, at)
    return Resolution(
        Status.DENIED, by, "client", "the user dismissed the approval prompt in the client", at
    )
