"""A call the policy allowed on a person's approval: held (or refused in retry mode) until an
operator decides, then let through or refused in the request's protocol.

The decision's audit event is written once the approval is settled, with its outcome; an MCP
client gets a refusal as the call's JSON-RPC error, an LLM SDK as the provider's error, plain HTTP
as 403 ``{"error": {"code", "approval_id", "reason", "message", "decision_id"}}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from ext_proc.approvals import ApprovalRequirement
from ext_proc.approvals.refusals import REFUSAL_STATUS
from ext_proc.audit import RequestSummary
from ext_proc.enforcement.approval import approval_audit, await_approval
from ext_proc.enforcement.components import Enforcement
from ext_proc.errors import ChaperoneError
from ext_proc.inspection.denial import protocol_denial
from ext_proc.inspection.request import InspectedRequest
from ext_proc.policy.evaluator import JSON_CONTENT_TYPE, DenyResponse, Outcome
from ext_proc.processing.events import Reject


class Host(Protocol):
    enforcement: Enforcement
    decision_id: str
    summary: RequestSummary
    extend_deadline: Callable[[float], Awaitable[None]] | None

    @property
    def agent_id(self) -> str | None: ...

    def failure(self, error: ChaperoneError) -> Outcome: ...

    def deny_of(self, outcome: Outcome) -> DenyResponse: ...

    def reject(self, phase: str, outcome: Outcome, deny: DenyResponse | None = None) -> Reject: ...

    def write_decision(self, phase: str, outcome: Outcome, status: int | None) -> None: ...

    def note_audit(self, fields: dict[str, Any]) -> None: ...


async def hold_for_approval(
    host: Host,
    phase: str,
    requirement: ApprovalRequirement,
    *,
    action: Any,
    request: InspectedRequest | None,
    outcome: Outcome | None,
) -> Reject | None:
    """None once approved (the allow's audit event written), else the refusal."""
    summary = host.summary
    try:
        result = await await_approval(
            host.enforcement.approvals.gate,
            requirement,
            agent=host.agent_id,
            action=action,
            request={"method": summary.method, "path": summary.path, "host": summary.host},
            decision_id=host.decision_id,
            extend_deadline=host.extend_deadline,
        )
    except ChaperoneError as exc:  # state_unavailable, approval_limit: never assumed approved
        return host.reject(phase, host.failure(exc))
    host.note_audit({"approval": approval_audit(result)})
    if result.refusal is None:
        if outcome is not None:
            host.write_decision(phase, outcome, None)
        return None
    refusal = result.refusal
    refused = host.failure(ChaperoneError(refusal.code, refusal.message, http_status=REFUSAL_STATUS))
    data = {**refusal.as_json(), "decision_id": host.decision_id}
    if request is not None and request.protocol is not None:
        deny = protocol_denial(request, host.deny_of(refused), refusal.message, data)
    else:  # plain HTTP: the refusal as README.md documents it
        deny = DenyResponse(REFUSAL_STATUS, (JSON_CONTENT_TYPE,), orjson.dumps({"error": data}))
    return host.reject(phase, refused, deny)
