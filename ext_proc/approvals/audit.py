"""Audit events of approvals: who asked for what, who decided, when, and what came of it.

Events go to the ``chaperone.audit`` logger beside the decision events. They name the action
(protocol, method, tool or model) and never carry its arguments, the operator's comment (free
text that may quote them) or anything else from the action summary.
"""

from __future__ import annotations

from typing import Any

import structlog

from ext_proc.approvals.model import Approval, action_names, timestamp

REQUESTED = "approval_requested"
DECIDED = "approval_decided"
EXPIRED = "approval_expired"
USED = "approval_used"
SELF_DECISION_REFUSED = "approval_self_decision_refused"


class ApprovalAudit:
    def __init__(self) -> None:
        self._log = structlog.get_logger("chaperone.audit")

    def requested(self, approval: Approval) -> None:
        self._emit(REQUESTED, approval, expires_at=timestamp(approval.expires_at))

    def decided(self, approval: Approval) -> None:
        self._emit(DECIDED, approval, operator=approval.decided_by, outcome=approval.status.value)

    def expired(self, approval: Approval, cause: str) -> None:
        self._emit(EXPIRED, approval, outcome=approval.status.value, cause=cause)

    def used(self, approval: Approval) -> None:
        self._emit(USED, approval, operator=approval.decided_by)

    def self_decision_refused(self, approval: Approval, operator: str) -> None:
        self._emit(SELF_DECISION_REFUSED, approval, operator=operator)

    def _emit(self, event: str, approval: Approval, **fields: Any) -> None:
        self._log.info(
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
