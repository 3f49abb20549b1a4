"""The approvals store as the admin gRPC API's ``ApprovalsBackend`` (admin/rpc/backends.py)."""

from __future__ import annotations

from collections.abc import Sequence

from ext_proc.admin.rpc.backends import (
    ApprovalRecord,
    ApprovalStatus,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
)
from ext_proc.approvals.model import ID_PATTERN, Approval, Status
from ext_proc.approvals.store import ApprovalStore
from ext_proc.errors import ChaperoneError, ErrorCode

# The HTTP API's errors, as the gRPC API's.
_NOT_FOUND = {ErrorCode.APPROVAL_NOT_FOUND}
_CONFLICT = {ErrorCode.APPROVAL_NOT_PENDING}
_INVALID = {ErrorCode.OPERATOR_REQUEST_INVALID}
_FORBIDDEN = {ErrorCode.APPROVAL_SELF_DECISION}


class StoreApprovalsBackend:
    def __init__(self, store: ApprovalStore) -> None:
        self._store = store

    async def list(self, status: ApprovalStatus | None) -> Sequence[ApprovalRecord]:
        approvals = await self._store.list(Status(status) if status is not None else None)
        return [_record(approval) for approval in approvals]

    async def get(self, approval_id: str) -> ApprovalRecord:
        approval = await self._store.get(approval_id) if ID_PATTERN.match(approval_id) else None
        if approval is None:
            raise NotFoundError(f"no approval request {approval_id!r}")
        return _record(approval)

    async def approve(self, approval_id: str, actor: str, comment: str | None) -> ApprovalRecord:
        return await self._decide(approval_id, True, actor, comment)

    async def deny(self, approval_id: str, actor: str, comment: str | None) -> ApprovalRecord:
        return await self._decide(approval_id, False, actor, comment)

    async def _decide(
        self, approval_id: str, approve: bool, actor: str, comment: str | None
    ) -> ApprovalRecord:
        if not ID_PATTERN.match(approval_id):
            raise NotFoundError(f"no approval request {approval_id!r}")
        try:
            approval = await self._store.decide(approval_id, approve, actor, comment or "")
        except ChaperoneError as exc:
            if exc.code in _NOT_FOUND:
                raise NotFoundError(exc.message) from None
            if exc.code in _CONFLICT:
                raise ConflictError(exc.message) from None
            if exc.code in _INVALID:
                raise InvalidError(exc.message) from None
            if exc.code in _FORBIDDEN:
                raise ForbiddenError(exc.message) from None
            raise
        return _record(approval)


def _record(approval: Approval) -> ApprovalRecord:
    return ApprovalRecord(
        id=approval.id,
        status=approval.status.value,
        agent=approval.agent,
        action=approval.action,
        reason=approval.reason,
        group=approval.group,
        created_at=approval.created_at,
        expires_at=approval.expires_at,
        decided_by=approval.decided_by,
        decided_at=approval.decided_at,
        comment=approval.comment,
        decision_id=approval.decision_id,
    )
