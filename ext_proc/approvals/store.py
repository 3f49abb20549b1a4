"""The approval store: one interface, two backends (this process's memory, or Redis).

The rules live here, once; a backend provides atomic primitives:

- only a pending request whose expiry has not passed can be decided, and only by someone other
  than the agent that asked (an operator named like the agent is refused);
- a pending request past its expiry is marked expired the first time anyone reads it, so every
  reader sees the same status (the audit event is written by whoever marked it);
- ``wait`` returns as soon as the request is decided (on any replica, for Redis) and marks it
  expired when its timeout comes first;
- in retry mode, ``find_approved`` hands out an approved request once: of two concurrent
  retries of the same action, exactly one passes.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson

from ext_proc.approvals.audit import ApprovalAudit
from ext_proc.approvals.model import Approval, Mode, Status, fingerprint, new_id
from ext_proc.config import ApprovalsConfig
from ext_proc.errors import ChaperoneError, ErrorCode

Clock = Callable[[], float]
MAX_COMMENT_LENGTH = 2000
DEFAULT_LIST_LIMIT = 100
# Redis: how often a waiting call re-reads its request, in case a notification was missed.
DEFAULT_POLL_SECONDS = 1.0


class Outcome(enum.Enum):
    DONE = "done"
    MISSING = "missing"
    NOT_PENDING = "not_pending"
    OVERDUE = "overdue"  # it was pending past its expiry: now marked expired
    SELF = "self"  # the operator is the agent that asked


@dataclass(frozen=True, slots=True)
class StoreSettings:
    retention_seconds: float
    max_pending: int
    retry_window_seconds: float
    poll_seconds: float = DEFAULT_POLL_SECONDS

    @staticmethod
    def of(config: ApprovalsConfig) -> StoreSettings:
        return StoreSettings(config.retention_seconds, config.max_pending, config.retry_window_seconds)


class Watch(Protocol):
    async def changed(self, timeout: float) -> None:
        """Return when the watched request may have changed, or after ``timeout`` seconds."""


class ApprovalStore(abc.ABC):
    def __init__(self, settings: StoreSettings, clock: Clock = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._audit = ApprovalAudit()

    # -- the interface ------------------------------------------------------------------------

    async def create(
        self,
        *,
        agent: str | None,
        action: Mapping[str, Any],
        reason: str,
        ttl_seconds: float,
        mode: Mode = Mode.HOLD,
        group: str | None = None,
        decision_id: str | None = None,
        action_fingerprint: str | None = None,
    ) -> Approval:
        """A new pending request; ``action_fingerprint`` defaults to the stored action's."""
        # A JSON round trip: both backends store the same JSON value, never the caller's object.
        stored = orjson.loads(orjson.dumps(action))
        now = self._clock()
        approval = Approval(
            id=new_id(),
            status=Status.PENDING,
            mode=mode,
            agent=agent,
            action=stored,
            fingerprint=action_fingerprint or fingerprint(agent, stored),
            reason=reason,
            group=group,
            decision_id=decision_id,
            created_at=now,
            expires_at=now + ttl_seconds,
        )
        if not await self._insert(approval, now):
            raise ChaperoneError(
                ErrorCode.APPROVAL_LIMIT,
                f"{self.settings.max_pending} approval requests are pending already",
                http_status=429,
            )
        self._audit.requested(approval)
        return approval

    async def get(self, approval_id: str) -> Approval | None:
        approval = await self._load(approval_id)
        if approval is not None and approval.overdue(self._clock()):
            return await self.expire(approval_id, cause="ttl")
        return approval

    async def list(self, status: Status | None = None, limit: int = DEFAULT_LIST_LIMIT) -> list[Approval]:
        """Requests newest first, of one status or all, at most ``limit``."""
        now = self._clock()
        found: list[Approval] = []
        async for approval in self._newest_first(pending_only=status is Status.PENDING):
            current = await self.expire(approval.id, cause="ttl") if approval.overdue(now) else approval
            if status is None or current.status is status:
                found.append(current)
                if len(found) >= limit:
                    break
        return found

    async def decide(self, approval_id: str, approve: bool, operator: str, comment: str = "") -> Approval:
        if not operator:
            raise ValueError("the operator's name is empty")
        if len(comment) > MAX_COMMENT_LENGTH:
            raise ChaperoneError(
                ErrorCode.OPERATOR_REQUEST_INVALID,
                f"the comment is longer than {MAX_COMMENT_LENGTH} characters",
                http_status=400,
            )
        status = Status.APPROVED if approve else Status.DENIED
        outcome, approval = await self._decide(approval_id, status, operator, comment or None, self._clock())
        if approval is None or outcome is Outcome.MISSING:
            raise _not_found()
        if outcome is not Outcome.DONE:
            raise self._refused(outcome, approval, operator)
        self._audit.decided(approval)
        return approval

    def _refused(self, outcome: Outcome, approval: Approval, operator: str) -> ChaperoneError:
        if outcome is Outcome.SELF:
            self._audit.self_decision_refused(approval, operator)
            return ChaperoneError(
                ErrorCode.APPROVAL_SELF_DECISION,
                "an agent cannot decide its own approval request",
                http_status=403,
            )
        if outcome is Outcome.OVERDUE:
            self._audit.expired(approval, cause="ttl")
        return ChaperoneError(
            ErrorCode.APPROVAL_NOT_PENDING,
            f"the approval request is {approval.status.value}, not pending",
            http_status=409,
        )

    async def expire(self, approval_id: str, cause: str = "timeout") -> Approval:
        """Mark a pending request expired (a decision that came first stands); return it."""
        changed, approval = await self._expire(approval_id, self._clock())
        if approval is None:
            raise _not_found()
        if changed:
            self._audit.expired(approval, cause)
        return approval

    async def wait(self, approval_id: str, timeout: float) -> Approval:
        """The request once decided, or marked expired when ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._watch(approval_id) as watch:
            while True:
                approval = await self.get(approval_id)
                if approval is None:
                    raise _not_found()
                if approval.status is not Status.PENDING:
                    return approval
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return await self.expire(approval_id, cause="timeout")
                until_expiry = max(approval.expires_at - self._clock(), 0.0)
                await watch.changed(min(remaining, until_expiry, self.settings.poll_seconds))

    async def find_approved(self, action_fingerprint: str) -> Approval | None:
        """Retry mode: an approved, unused request for this action, now used (once, atomically)."""
        approval = await self._take_approved(action_fingerprint, self._clock())
        if approval is not None:
            self._audit.used(approval)
        return approval

    async def find_latest(self, action_fingerprint: str) -> Approval | None:
        """Retry mode: the most recent request for this action that is not yet forgotten."""
        approval_id = await self._latest(action_fingerprint)
        return None if approval_id is None else await self.get(approval_id)

    async def forget_latest(self, action_fingerprint: str, approval_id: str) -> bool:
        """Drop the pointer to ``approval_id`` (if it still points there); True for the caller
        that dropped it, so only one retry reports a denial."""
        return await self._forget_latest(action_fingerprint, approval_id)

    async def close(self) -> None:  # noqa: B027 (backends without resources keep it)
        """Release the backend's resources."""

    # -- backend primitives -------------------------------------------------------------------

    @abc.abstractmethod
    async def _insert(self, approval: Approval, now: float) -> bool:
        """Store a new request; False (and nothing stored) when max_pending are pending."""

    @abc.abstractmethod
    async def _load(self, approval_id: str) -> Approval | None: ...

    @abc.abstractmethod
    def _newest_first(self, pending_only: bool) -> AsyncIterator[Approval]: ...

    @abc.abstractmethod
    async def _decide(
        self, approval_id: str, status: Status, operator: str, comment: str | None, now: float
    ) -> tuple[Outcome, Approval | None]: ...

    @abc.abstractmethod
    async def _expire(self, approval_id: str, now: float) -> tuple[bool, Approval | None]: ...

    @abc.abstractmethod
    async def _take_approved(self, action_fingerprint: str, now: float) -> Approval | None: ...

    @abc.abstractmethod
    async def _latest(self, action_fingerprint: str) -> str | None: ...

    @abc.abstractmethod
    async def _forget_latest(self, action_fingerprint: str, approval_id: str) -> bool: ...

    @abc.abstractmethod
    def _watch(self, approval_id: str) -> contextlib.AbstractAsyncContextManager[Watch]: ...


def decided(approval: Approval, status: Status, operator: str, comment: str | None, now: float) -> Approval:
    return replace(approval, status=status, decided_by=operator, decided_at=now, comment=comment)


def expired(approval: Approval, now: float) -> Approval:
    return replace(approval, status=Status.EXPIRED, decided_at=now)


def usable(approval: Approval, now: float, window: float) -> bool:
    """Approved in retry mode, not used yet, and still inside the retry window."""
    return (
        approval.status is Status.APPROVED
        and approval.mode is Mode.RETRY
        and approval.used_at is None
        and approval.decided_at is not None
        and now < approval.decided_at + window
    )


def _not_found() -> ChaperoneError:
    return ChaperoneError(ErrorCode.APPROVAL_NOT_FOUND, "no approval request with this id", http_status=404)
