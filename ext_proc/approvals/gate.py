"""The two ways a call that needs approval is handled (``approvals.mode``).

- **hold**: a request is created and announced; the call waits up to ``approvals.hold_seconds``
  (or the decision's shorter ``ttl_seconds``). Approved: it proceeds unchanged. Denied or timed
  out: refused. A call abandoned while it waits (the client went away) marks its request expired,
  so no operator approves a call that no longer exists.
- **retry**: the call is refused at once with the request's id; while it is pending, a retry of
  the same action is refused with the same id (no duplicate requests); once approved, one retry
  passes; once denied (or expired), the next retry is told so, and the one after asks anew.

"The same action" is the fingerprint of the agent and the action (``model.fingerprint``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from ext_proc.approvals.model import Approval, Mode, Status, fingerprint
from ext_proc.approvals.refusals import Refusal, refusal_for
from ext_proc.approvals.requirement import ApprovalRequirement
from ext_proc.approvals.store import ApprovalStore
from ext_proc.approvals.webhook import Notifier
from ext_proc.config import ApprovalsConfig

log = structlog.get_logger("chaperone.approvals")


@dataclass(frozen=True, slots=True)
class GateResult:
    approval: Approval
    refusal: Refusal | None  # None: the call proceeds

    @property
    def proceed(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True, slots=True)
class _Call:
    requirement: ApprovalRequirement
    agent: str | None
    action: Mapping[str, Any]
    decision_id: str | None
    key: str  # the action's fingerprint


class ApprovalGate:
    def __init__(
        self, store: ApprovalStore, notifier: Notifier, *, mode: Mode, hold_seconds: float, ttl_seconds: float
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.mode = mode
        self.hold_seconds = hold_seconds
        self.ttl_seconds = ttl_seconds
        self._background: set[asyncio.Task[Any]] = set()

    @staticmethod
    def of(config: ApprovalsConfig, store: ApprovalStore, notifier: Notifier) -> ApprovalGate:
        return ApprovalGate(
            store,
            notifier,
            mode=Mode(config.mode),
            hold_seconds=config.hold_seconds,
            ttl_seconds=config.ttl_seconds,
        )

    async def check(
        self,
        requirement: ApprovalRequirement,
        *,
        agent: str | None,
        action: Mapping[str, Any],
        decision_id: str | None = None,
        action_fingerprint: str | None = None,
    ) -> GateResult:
        """Hold or refuse the call; ``action`` is the redacted summary that operators see.

        Pass ``action_fingerprint`` (``model.fingerprint(agent, unredacted_action)``) when the
        summary is redacted. Raises ChaperoneError (``state_unavailable``, ``approval_limit``):
        the caller refuses the call, whatever ``state.fail_open`` says.
        """
        call = _Call(
            requirement, agent, action, decision_id, action_fingerprint or fingerprint(agent, action)
        )
        if self.mode is Mode.HOLD:
            return await self._hold(call)
        return await self._retry(call)

    async def _hold(self, call: _Call) -> GateResult:
        hold = min(call.requirement.ttl_seconds or self.hold_seconds, self.hold_seconds)
        approval = await self._create(call, Mode.HOLD, hold)
        try:
            final = await self.store.wait(approval.id, hold)
        except asyncio.CancelledError:
            self._in_background(self.store.expire(approval.id, cause="abandoned"))
            raise
        return GateResult(final, None if final.status is Status.APPROVED else refusal_for(final))

    async def _retry(self, call: _Call) -> GateResult:
        approved = await self.store.find_approved(call.key)
        if approved is not None:
            return GateResult(approved, None)
        latest = await self.store.find_latest(call.key)
        if latest is not None and latest.status is Status.PENDING:
            return GateResult(latest, refusal_for(latest))
        if (
            latest is not None
            and latest.status in (Status.DENIED, Status.EXPIRED)
            and await self.store.forget_latest(call.key, latest.id)
        ):
            return GateResult(latest, refusal_for(latest))
        approval = await self._create(call, Mode.RETRY, call.requirement.ttl_seconds or self.ttl_seconds)
        return GateResult(approval, refusal_for(approval))

    async def _create(self, call: _Call, mode: Mode, ttl: float) -> Approval:
        approval = await self.store.create(
            agent=call.agent,
            action=call.action,
            reason=call.requirement.reason,
            ttl_seconds=ttl,
            mode=mode,
            group=call.requirement.group,
            decision_id=call.decision_id,
            action_fingerprint=call.key,
        )
        self.notifier.notify(approval)
        return approval

    def _in_background(self, work: Any) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("approval_expire_failed", error=type(task.exception()).__name__)

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
