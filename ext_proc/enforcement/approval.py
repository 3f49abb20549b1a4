"""A call the policy wants approved: wait for a person (hold) or refuse it with the request's id
(retry), through the approval gate (approvals/gate.py).

Operators see a redacted summary of the action (approvals/summary.py); "the same action" is
recognized by the unredacted one. In hold mode, Envoy's deadline for the message is moved first
(ext_proc ``override_message_timeout``), so the held call is not cut by the 1 s message timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ext_proc.approvals import ApprovalGate, ApprovalRequirement, GateResult, Mode, fingerprint
from ext_proc.approvals.summary import action_summary

# Beyond the hold itself: the time to answer once the decision arrives.
DEADLINE_MARGIN_SECONDS = 5.0
Extend = Callable[[float], Awaitable[None]]


async def await_approval(
    gate: ApprovalGate,
    requirement: ApprovalRequirement,
    *,
    agent: str | None,
    action: Any,
    request: Mapping[str, Any],
    decision_id: str,
    extend_deadline: Extend | None,
) -> GateResult:
    """Raises ChaperoneError (``state_unavailable``, ``approval_limit``): the caller refuses the
    call, whatever ``state.fail_open`` says (an approval is never assumed)."""
    summary = action_summary(action, request)
    exact = action if isinstance(action, dict) else {"batch": action} if isinstance(action, list) else summary
    if gate.mode is Mode.HOLD and extend_deadline is not None:
        hold = min(requirement.ttl_seconds or gate.hold_seconds, gate.hold_seconds)
        await extend_deadline(hold + DEADLINE_MARGIN_SECONDS)
    return await gate.check(
        requirement,
        agent=agent,
        action=summary,
        decision_id=decision_id,
        action_fingerprint=fingerprint(agent, exact),
    )


def approval_audit(result: GateResult) -> dict[str, Any]:
    """The ``approval`` field of the decision's audit event."""
    approval = result.approval
    return {
        "id": approval.id,
        "status": approval.status.value,
        "mode": approval.mode.value,
        "decided_by": approval.decided_by,
    }
