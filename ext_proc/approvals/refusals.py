"""What a client gets when its call waits on, or was refused by, a person's decision.

Plain HTTP: 403 with ``{"error": {"code", "approval_id", "reason", "message"}}``. MCP: the
JSON-RPC error of ``ext_proc.protocols.mcp.denied_response`` (code -32019, HTTP 200) with the
same object as its ``data``, so an MCP client sees the approval's id in the call's error.
The reason is the policy's own text; the action's arguments are never echoed.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ext_proc.approvals.model import Approval, Mode, Status
from ext_proc.errors import ErrorCode
from ext_proc.protocols import mcp
from ext_proc.protocols.jsonrpc import HttpReply

REFUSAL_STATUS = 403
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Refusal:
    code: ErrorCode  # approval_required, approval_denied or approval_expired
    approval_id: str
    reason: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {
            "code": self.code.value,
            "approval_id": self.approval_id,
            "reason": self.reason,
            "message": self.message,
        }


def refusal_for(approval: Approval) -> Refusal:
    """The refusal for a request that is not (or no longer) an approval to proceed."""
    if approval.status is Status.DENIED:
        code, message = ErrorCode.APPROVAL_DENIED, "an operator denied this action"
    elif approval.status is Status.EXPIRED:
        code, message = ErrorCode.APPROVAL_EXPIRED, "no operator approved this action in time"
    elif approval.mode is Mode.RETRY:
        code, message = ErrorCode.APPROVAL_REQUIRED, "this action needs approval: retry it once approved"
    else:
        code, message = ErrorCode.APPROVAL_REQUIRED, "this action needs approval"
    return Refusal(
        code, approval.id, approval.reason, f"{message} (approval {approval.id}: {approval.reason})"
    )


def http_refusal(refusal: Refusal) -> HttpReply:
    return HttpReply(REFUSAL_STATUS, _JSON, orjson.dumps({"error": refusal.as_json()}))


def mcp_refusal(
    calls: mcp.McpCall | mcp.McpRequestBody, refusal: Refusal, *, as_tool_result: bool = False
) -> HttpReply:
    """The refusal of MCP requests, as each request's JSON-RPC error (or, with
    ``as_tool_result``, a ``tools/call`` result with ``isError`` the model reads)."""
    return mcp.denied_response(calls, refusal.message, refusal.as_json(), as_tool_result=as_tool_result)
