"""The approval store port: pending approvals and grants, shared by every callgate instance.

Backends (`callgate.state.approvals_memory`, `_sqlite`, `_redis`) implement
`ApprovalStore`; one contract test suite runs over all of them. Every status change is a
compare-and-set from the status the caller expects, so two approvers, or an approver and
the timeout, can never both win: the loser gets `ApprovalConflict` with the winner's record.

Errors:

    callgate.errors.CallgateError
    └── ApprovalError        "approval"
        ├── ApprovalNotFound   "approval.not_found"   no approval with that id
        ├── ApprovalConflict   "approval.conflict"    already settled (carries the record)
        └── ApprovalSetupError "approval.setup"       the approvals configuration cannot be used
    callgate.state.store.StoreUnavailable           the backend cannot be reached (fail closed)
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from callgate.approvals.model import (
    Approval,
    ApprovalRequest,
    Grant,
    GrantScope,
    Resolution,
    Status,
)
from callgate.errors import CallgateError

__all__ = [
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalNotFound",
    "ApprovalSetupError",
    "ApprovalStore",
]


class ApprovalError(CallgateError):
    """Base of the approval errors; `code` is stable."""

    code = "approval"


class ApprovalNotFound(ApprovalError):  # noqa: N818 - the name says what happened
    """No approval has that id."""

    code = "approval.not_found"

    def __init__(self, approval_id: str) -> None:
        super().__init__(f"no approval with id {approval_id!r}")
        self.approval_id = approval_id


class ApprovalConflict(ApprovalError):  # noqa: N818 - the name says what happened
    """The approval is no longer in the status the change expected."""

    code = "approval.conflict"

    def __init__(self, current: Approval) -> None:
        super().__init__(f"approval {current.id} is already {current.status.value}")
        self.current = current


class ApprovalSetupError(ApprovalError):
    """The policy's approvals block cannot be put to work (say, a webhook secret is unset)."""

    code = "approval.setup"


class ApprovalStore(Protocol):
    """Approvals and grants in one backend."""

    async def create(self, request: ApprovalRequest) -> Approval:
        """Store a new request in status `requested`."""
        ...

    async def get(self, approval_id: str) -> Approval:
        """The approval with that id; raises `ApprovalNotFound`."""
        ...

    async def list(
        self, statuses: Collection[Status] | None = None, limit: int = 100
    ) -> list[Approval]:
        """Approvals, newest first, optionally only those in `statuses`."""
        ...

    async def latest_for(self, fingerprint: str) -> Approval | None:
        """The newest approval for that fingerprint, whatever its status."""
        ...

    async def resolve(self, approval_id: str, resolution: Resolution) -> Approval:
        """Move a `requested` approval to `resolution.status`; a grant in the resolution
        (session or duration scope) is stored in the same step. Raises `ApprovalConflict`
        when it is no longer `requested`."""
        ...

    async def consume(self, approval_id: str, now: float) -> Approval:
        """Move an `approved` approval to `consumed`; raises `ApprovalConflict` otherwise."""
        ...

    async def find_grant(self, fingerprint: str, session: str, now: float) -> Grant | None:
        """A grant covering that fingerprint in that session at `now`, if any."""
        ...

    async def wait_resolved(self, approval_id: str) -> Approval:
        """Return once the approval has left `requested` (the caller bounds the wait)."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...


def grant_from(approval: Approval) -> Grant | None:
    """The standing grant an approval's resolution carries, if it grants more than once."""
    resolution = approval.resolution
    if resolution is None or resolution.status is not Status.APPROVED:
        return None
    if resolution.scope is GrantScope.ONCE:
        return None
    return Grant(
        approval_id=approval.id,
        fingerprint=approval.request.fingerprint,
        scope=resolution.scope,
        session=approval.request.session if resolution.scope is GrantScope.SESSION else None,
        expires_at=resolution.until,
        by=resolution.by,
        channel=resolution.channel,
    )
