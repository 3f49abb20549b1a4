"""What the admin gRPC API needs from the approvals store and the kill switch.

The operations are implemented by those components (approvals/rpc_backend.py, limits/admin.py);
the service hands them to the servicers. Records are plain values (times are Unix seconds); the
servicers convert them to the API's messages. A backend reports a missing approval with
``NotFoundError``, an operation that no longer applies (an approval already decided or expired)
with ``ConflictError``, bad arguments with ``InvalidError``, and what this operator may not do
(decide a request of its own) with ``ForbiddenError``; an unreachable shared store raises
``ChaperoneError`` (``state_unavailable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]
KillScope = Literal["all", "agent", "tool", "upstream"]
APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = ("pending", "approved", "denied", "expired")
KILL_SCOPES: tuple[KillScope, ...] = ("all", "agent", "tool", "upstream")


class NotFoundError(LookupError):
    pass


class ConflictError(Exception):
    pass


class InvalidError(ValueError):
    pass


class ForbiddenError(PermissionError):
    """The operator may not do this (an agent's operator deciding its own request)."""


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    id: str
    status: ApprovalStatus
    agent: str | None
    action: Any  # the held action as the policy saw it: any JSON value
    reason: str | None
    group: str | None
    created_at: float
    expires_at: float | None
    decided_by: str | None = None
    decided_at: float | None = None
    comment: str | None = None
    decision_id: str | None = None


@dataclass(frozen=True, slots=True)
class KillRecord:
    scope: KillScope
    target: str | None  # None for scope "all"
    reason: str | None
    actor: str | None
    engaged_at: float


class ApprovalsBackend(Protocol):
    async def list(self, status: ApprovalStatus | None) -> Sequence[ApprovalRecord]: ...

    async def get(self, approval_id: str) -> ApprovalRecord:
        """Raises NotFoundError."""
        ...

    async def approve(self, approval_id: str, actor: str, comment: str | None) -> ApprovalRecord:
        """Raises NotFoundError, or ConflictError when it is no longer pending."""
        ...

    async def deny(self, approval_id: str, actor: str, comment: str | None) -> ApprovalRecord:
        """Raises NotFoundError, or ConflictError when it is no longer pending."""
        ...


class KillSwitchBackend(Protocol):
    async def engage(self, scope: KillScope, target: str | None, reason: str, actor: str) -> KillRecord: ...

    async def release(self, scope: KillScope, target: str | None, actor: str) -> bool:
        """True when a kill with that scope and target was engaged and is now released."""
        ...

    async def list(self) -> Sequence[KillRecord]: ...
