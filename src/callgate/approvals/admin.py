"""The admin API: list, show, approve and deny approvals over HTTP, for operators only.

A Starlette app the HTTP listener mounts (for example under `/admin`):

    GET  /approvals[?status=requested|approved|...|all]   newest first (default: requested)
    GET  /approvals/{id}
    POST /approvals/{id}/approve   {"by"?, "reason"?, "for"?: "30m" | seconds, "session"?: true}
    POST /approvals/{id}/deny      {"by"?, "reason": "..."}

Every request needs `Authorization: Bearer <admin token>`, a token of its own, never an
agent's. Only loopback clients are served unless `allow_remote` is set. Answers are JSON:
401 without the right token, 403 from a remote client, 404 unknown id, 409 already
settled (with who settled it), 400 a bad body, 503 store unreachable.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callgate.approvals.broker import approve, deny
from callgate.approvals.clock import Clock, SystemClock
from callgate.approvals.model import EventSink, GrantScope, Status, discard_events
from callgate.approvals.store import ApprovalConflict, ApprovalNotFound, ApprovalStore
from callgate.state.store import StoreUnavailable

__all__ = ["build_admin_app"]

CHANNEL = "admin-api"


def build_admin_app(
    store: ApprovalStore,
    *,
    token: str,
    events: EventSink = discard_events,
    clock: Clock | None = None,
    allow_remote: bool = False,
) -> Starlette:
    """The admin API over `store`, guarded by the bearer `token`."""
    if not token:
        raise ValueError("the admin API needs a non-empty admin token")
    expected = hashlib.sha256(token.encode()).digest()
    now = (clock or SystemClock()).now

    def refuse(request: Request) -> Response | None:
        if not allow_remote and not _is_loopback(request):
            return _error(403, "the admin API only serves loopback clients")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        digest = hashlib.sha256(given.strip().encode()).digest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(digest, expected):
            return _error(401, "a valid admin bearer token is required", bearer=True)
        return None

    async def list_approvals(request: Request) -> Response:
        if (refusal := refuse(request)) is not None:
            return refusal
        wanted = request.query_params.get("status", Status.REQUESTED.value)
        if wanted != "all" and wanted not in {s.value for s in Status}:
            return _error(400, f"unknown status {wanted!r}")
        statuses = None if wanted == "all" else {Status(wanted)}
        approvals = await store.list(statuses)
        return JSONResponse({"approvals": [a.to_dict() for a in approvals]})

    async def show(request: Request) -> Response:
        if (refusal := refuse(request)) is not None:
            return refusal
        return JSONResponse((await store.get(request.path_params["id"])).to_dict())

    async def decide(request: Request, action: str) -> Response:
        if (refusal := refuse(request)) is not None:
            return refusal
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        by = body.get("by", "admin")
        reason = body.get("reason", "")
        if not isinstance(by, str) or not by or not isinstance(reason, str):
            return _error(400, '"by" and "reason" must be strings')
        approval_id = request.path_params["id"]
        if action == "deny":
            if not reason.strip():
                return _error(400, 'deny needs a non-empty "reason"')
            settled = await deny(
                store, approval_id, by=by, channel=CHANNEL, now=now(), reason=reason, events=events
            )
            return JSONResponse(settled.to_dict())
        scope = _scope(body)
        if isinstance(scope, Response):
            return scope
        settled = await approve(
            store,
            approval_id,
            by=by,
            channel=CHANNEL,
            now=now(),
            reason=reason,
            scope=scope[0],
            for_seconds=scope[1],
            events=events,
        )
        return JSONResponse(settled.to_dict())

    async def approve_one(request: Request) -> Response:
        return await decide(request, "approve")

    async def deny_one(request: Request) -> Response:
        return await decide(request, "deny")

    return Starlette(
        routes=[
            Route("/approvals", list_approvals, methods=["GET"]),
            Route("/approvals/{id}", show, methods=["GET"]),
            Route("/approvals/{id}/approve", approve_one, methods=["POST"]),
            Route("/approvals/{id}/deny", deny_one, methods=["POST"]),
        ],
        exception_handlers={
            ApprovalNotFound: _not_found,
            ApprovalConflict: _conflict,
            StoreUnavailable: _unavailable,
            404: _unknown_route,
        },
    )


def _scope(body: dict[str, Any]) -> tuple[GrantScope, float | None] | Response:
    session, duration = body.get("session", False), body.get("for")
    if session is not False and session is not True:
        return _error(400, '"session" must be true or false')
    if session and duration is not None:
        return _error(400, 'give "for" or "session", not both')
    if session:
        return GrantScope.SESSION, None
    if duration is None:
        return GrantScope.ONCE, None
    from callgate.policy.schema import parse_duration  # noqa: PLC0415 - only for "for"

    try:
        return GrantScope.DURATION, parse_duration(duration)
    except ValueError as error:
        return _error(400, f'"for": {error}')


async def _json_body(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return _error(400, "the body must be a JSON object")
    return body if isinstance(body, dict) else _error(400, "the body must be a JSON object")


def _is_loopback(request: Request) -> bool:
    if request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str, *, bearer: bool = False) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="callgate-admin"'} if bearer else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, str(exc))


async def _unknown_route(request: Request, exc: Exception) -> Response:
    return _error(404, f"no such admin endpoint: {request.method} {request.url.path}")


async def _conflict(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApprovalConflict)
    return JSONResponse({"error": str(exc), "approval": exc.current.to_dict()}, status_code=409)


async def _unavailable(request: Request, exc: Exception) -> Response:
    return _error(503, f"the approval store is unreachable: {exc}")
