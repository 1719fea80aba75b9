"""`RedisApprovalStore`: approvals and grants in Redis, shared by many callgate instances.

An approval given through one instance releases a call waiting on another: every status
change is a compare-and-set Lua script on the approval's hash, and a waiter polls the
hash's status at a short interval (`poll_interval`), which survives reconnects and needs
no subscriber connection per waiter.

Keys (under `prefix`, default `callgate:`):
- `approval:<id>`: hash with `request` (JSON), `status`, `resolution` (JSON), `consumed_at`;
- `approval-latest:<fingerprint>`: the id of the newest request for that fingerprint;
- `approvals`: sorted set of ids by creation time (for `list`);
- `approval-grants:<fingerprint>`: hash of standing grants by approval id.
Records are kept for `retention` seconds (real time) after their last change.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import anyio
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callgate.approvals.model import (
    Approval,
    ApprovalRequest,
    Grant,
    Resolution,
    Status,
    dump_grant,
    dump_request,
    dump_resolution,
    load_grant,
    load_request,
    load_resolution,
)
from callgate.approvals.store import ApprovalConflict, ApprovalNotFound, grant_from
from callgate.state.store import StoreUnavailable

__all__ = ["RedisApprovalStore"]

DEFAULT_RETENTION = 7 * 24 * 3600

# KEYS: approval hash, grants hash. ARGV: expected status, new status, field, value,
# grant id ('' for none), grant JSON, retention seconds.
_TRANSITION = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= ARGV[1] then return status end
redis.call('HSET', KEYS[1], 'status', ARGV[2], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[7])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
return 'ok'
"""


class RedisApprovalStore:
    """An `ApprovalStore` in Redis (atomic scripts; waiters poll)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "callgate:",
        poll_interval: float = 0.05,
        retention: int = DEFAULT_RETENTION,
    ) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self.poll_interval = poll_interval
        self._retention = retention
        self._transition = self._redis.register_script(_TRANSITION)

    def _key(self, approval_id: str) -> str:
        return f"{self._prefix}approval:{approval_id}"

    def _grants_key(self, fingerprint: str) -> str:
        return f"{self._prefix}approval-grants:{fingerprint}"

    async def create(self, request: ApprovalRequest) -> Approval:
        """Store a new request."""
        key = self._key(request.id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"request": dump_request(request), "status": "requested"})
                pipe.expire(key, self._retention)
                pipe.set(
                    f"{self._prefix}approval-latest:{request.fingerprint}",
                    request.id,
                    ex=self._retention,
                )
                pipe.zadd(f"{self._prefix}approvals", {request.id: request.created_at})
                pipe.zremrangebyscore(
                    f"{self._prefix}approvals", "-inf", request.created_at - self._retention
                )
                await pipe.execute()
        except RedisError as error:
            raise _unavailable(error) from error
        return Approval(request)

    async def get(self, approval_id: str) -> Approval:
        """The approval with that id."""
        approval = await self._load(approval_id)
        if approval is None:
            raise ApprovalNotFound(approval_id)
        return approval

    async def list(
        self, statuses: Collection[Status] | None = None, limit: int = 100
    ) -> list[Approval]:
        """Newest first."""
        try:
            ids = await self._redis.zrevrange(f"{self._prefix}approvals", 0, -1)
            chosen: list[Approval] = []
            for start in range(0, len(ids), _LIST_BATCH):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for approval_id in ids[start : start + _LIST_BATCH]:
                        pipe.hgetall(self._key(_text(approval_id)))
                    batch = await pipe.execute()
                for stored in batch:
                    approval = _approval(stored)
                    if approval is not None and (statuses is None or approval.status in statuses):
                        chosen.append(approval)
                        if len(chosen) >= limit:
                            return chosen
        except RedisError as error:
            raise _unavailable(error) from error
        return chosen

    async def latest_for(self, fingerprint: str) -> Approval | None:
        """The newest approval for that fingerprint."""
        try:
            approval_id = await self._redis.get(f"{self._prefix}approval-latest:{fingerprint}")
        except RedisError as error:
            raise _unavailable(error) from error
        return await self._load(_text(approval_id)) if approval_id is not None else None

    async def resolve(self, approval_id: str, resolution: Resolution) -> Approval:
        """Compare-and-set from `requested`, storing any grant in the same script."""
        current = await self.get(approval_id)
        settled = current.with_status(resolution.status, resolution)
        grant = grant_from(settled)
        await self._change(
            current,
            Status.REQUESTED,
            resolution.status,
            ("resolution", dump_resolution(resolution) or ""),
            grant,
        )
        return settled

    async def consume(self, approval_id: str, now: float) -> Approval:
        """Compare-and-set from `approved` to `consumed`."""
        current = await self.get(approval_id)
        await self._change(current, Status.APPROVED, Status.CONSUMED, ("consumed_at", repr(now)))
        return current.with_status(Status.CONSUMED, consumed_at=now)

    async def find_grant(self, fingerprint: str, session: str, now: float) -> Grant | None:
        """A live grant for that fingerprint and session; expired ones are deleted."""
        key = self._grants_key(fingerprint)
        try:
            stored = await self._redis.hgetall(key)
            grants = [load_grant(_text(text)) for text in stored.values()]
            stale = [
                g.approval_id for g in grants if g.expires_at is not None and now >= g.expires_at
            ]
            if stale:
                await self._redis.hdel(key, *stale)
        except RedisError as error:
            raise _unavailable(error) from error
        return next((g for g in grants if g.covers(fingerprint, session, now)), None)

    async def wait_resolved(self, approval_id: str) -> Approval:
        """Poll the approval's status until it leaves `requested`."""
        key = self._key(approval_id)
        while True:
            try:
                status = await self._redis.hget(key, "status")
            except RedisError as error:
                raise _unavailable(error) from error
            if status is None:
                raise ApprovalNotFound(approval_id)
            if status != Status.REQUESTED.value:
                return await self.get(approval_id)
            await anyio.sleep(self.poll_interval)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()

    async def _change(
        self,
        current: Approval,
        expected: Status,
        new: Status,
        field: tuple[str, str],
        grant: Grant | None = None,
    ) -> None:
        try:
            answer = await self._transition(
                keys=[self._key(current.id), self._grants_key(current.request.fingerprint)],
                args=[
                    expected.value,
                    new.value,
                    field[0],
                    field[1],
                    grant.approval_id if grant is not None else "",
                    dump_grant(grant) if grant is not None else "",
                    self._retention,
                ],
            )
        except RedisError as error:
            raise _unavailable(error) from error
        if answer == "missing":
            raise ApprovalNotFound(current.id)
        if answer != "ok":
            raise ApprovalConflict(await self.get(current.id))

    async def _load(self, approval_id: str) -> Approval | None:
        try:
            stored = await self._redis.hgetall(self._key(approval_id))
        except RedisError as error:
            raise _unavailable(error) from error
        return _approval(stored)


_LIST_BATCH = 200
"""Approvals fetched per round trip by `list`."""


def _approval(stored: Any) -> Approval | None:
    """An approval from its hash fields (None when the hash is gone)."""
    fields = {_text(name): _text(value) for name, value in stored.items()}
    if "request" not in fields:
        return None
    consumed_at = fields.get("consumed_at")
    return Approval(
        request=load_request(fields["request"]),
        status=Status(fields["status"]),
        resolution=load_resolution(fields.get("resolution")),
        consumed_at=float(consumed_at) if consumed_at is not None else None,
    )


def _text(value: Any) -> str:
    # The client decodes responses (decode_responses=True); its stubs still say bytes | str.
    return value.decode() if isinstance(value, bytes) else str(value)


def _unavailable(error: RedisError) -> StoreUnavailable:
    return StoreUnavailable(f"Redis approval store: {error}")
