"""Approvals and grants in process memory: one callgate instance, nothing survives a restart."""

from __future__ import annotations

from collections.abc import Collection

import anyio

from callgate.approvals.model import Approval, ApprovalRequest, Grant, Resolution, Status
from callgate.approvals.store import ApprovalConflict, ApprovalNotFound, grant_from

__all__ = ["MemoryApprovalStore"]


class MemoryApprovalStore:
    """An `ApprovalStore` in dictionaries; waiters wake on an event per approval."""

    def __init__(self) -> None:
        self._approvals: dict[str, Approval] = {}
        self._latest: dict[str, str] = {}
        self._grants: dict[str, list[Grant]] = {}
        self._resolved: dict[str, anyio.Event] = {}

    async def create(self, request: ApprovalRequest) -> Approval:
        """Store a new request."""
        approval = Approval(request)
        self._approvals[request.id] = approval
        self._latest[request.fingerprint] = request.id
        return approval

    async def get(self, approval_id: str) -> Approval:
        """The approval with that id."""
        try:
            return self._approvals[approval_id]
        except KeyError:
            raise ApprovalNotFound(approval_id) from None

    async def list(
        self, statuses: Collection[Status] | None = None, limit: int = 100
    ) -> list[Approval]:
        """Newest first."""
        chosen = [a for a in self._approvals.values() if statuses is None or a.status in statuses]
        chosen.sort(key=lambda a: a.request.created_at, reverse=True)
        return chosen[:limit]

    async def latest_for(self, fingerprint: str) -> Approval | None:
        """The newest approval for that fingerprint."""
        approval_id = self._latest.get(fingerprint)
        return self._approvals[approval_id] if approval_id is not None else None

    async def resolve(self, approval_id: str, resolution: Resolution) -> Approval:
        """Compare-and-set from `requested`, storing any grant with it."""
        current = await self.get(approval_id)
        if current.status is not Status.REQUESTED:
            raise ApprovalConflict(current)
        settled = current.with_status(resolution.status, resolution)
        self._approvals[approval_id] = settled
        grant = grant_from(settled)
        if grant is not None:
            self._grants.setdefault(grant.fingerprint, []).append(grant)
        self._resolved.pop(approval_id, anyio.Event()).set()
        return settled

    async def consume(self, approval_id: str, now: float) -> Approval:
        """Compare-and-set from `approved` to `consumed`."""
        current = await self.get(approval_id)
        if current.status is not Status.APPROVED:
            raise ApprovalConflict(current)
        consumed = current.with_status(Status.CONSUMED, consumed_at=now)
        self._approvals[approval_id] = consumed
        return consumed

    async def find_grant(self, fingerprint: str, session: str, now: float) -> Grant | None:
        """A live grant for that fingerprint and session; expired ones are dropped."""
        grants = self._grants.get(fingerprint)
        if not grants:
            return None
        live = [g for g in grants if g.expires_at is None or now < g.expires_at]
        self._grants[fingerprint] = live
        return next((g for g in live if g.covers(fingerprint, session, now)), None)

    async def wait_resolved(self, approval_id: str) -> Approval:
        """Wait on the approval's event until it leaves `requested`."""
        current = await self.get(approval_id)
        while current.status is Status.REQUESTED:
            await self._resolved.setdefault(approval_id, anyio.Event()).wait()
            current = await self.get(approval_id)
        return current

    async def aclose(self) -> None:
        """Nothing to release."""
