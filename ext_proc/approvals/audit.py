"""Audit events of approvals: who asked for what, who decided, when, and what came of it.

Events go to the service's audit trail (hash-chained, beside the decision events; the
``chaperone.audit`` logger when none is given) and move the approval metrics. They name the action
(protocol, method, tool or model) and never carry its arguments, the operator's comment (free
text that may quote them) or anything else from the action summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from ext_proc.approvals.model import Approval, Status, action_names, timestamp
from ext_proc.metrics import NULL_METRICS, Metrics

REQUESTED = "approval_requested"
DECIDED = "approval_decided"
EXPIRED = "approval_expired"
USED = "approval_used"
SELF_DECISION_REFUSED = "approval_self_decision_refused"


Emit = Callable[..., None]


class ApprovalAudit:
    def __init__(self, emit: Emit | None = None, metrics: Metrics = NULL_METRICS) -> None:
        self._write: Emit = emit or structlog.get_logger("chaperone.audit").info
        self._metrics = metrics

    def requested(self, approval: Approval) -> None:
        self._metrics.approval_requested()
        self._emit(REQUESTED, approval, expires_at=timestamp(approval.expires_at))

    def decided(self, approval: Approval) -> None:
        self._metrics.approval_decided("granted" if approval.status is Status.APPROVED else "denied")
        self._emit(DECIDED, approval, operator=approval.decided_by, outcome=approval.status.value)

    def expired(self, approval: Approval, cause: str) -> None:
        if approval.status is Status.EXPIRED:  # a decision that came first stands
            self._metrics.approval_decided("expired")
        self._emit(EXPIRED, approval, outcome=approval.status.value, cause=cause)

    def used(self, approval: Approval) -> None:
        self._emit(USED, approval, operator=approval.decided_by)

    def self_decision_refused(self, approval: Approval, operator: str) -> None:
        self._emit(SELF_DECISION_REFUSED, approval, operator=operator)

    def _emit(self, event: str, approval: Approval, **fields: Any) -> None:
        self._write(
            event,
            approval_id=approval.id,
            decision_id=approval.decision_id,
            agent=approval.agent,
            mode=approval.mode.value,
            group=approval.group,
            # The policy's own words (also in its decision's audit event), not the action's data.
            reason=approval.reason,
            **action_names(approval.action),
            **fields,
        )
