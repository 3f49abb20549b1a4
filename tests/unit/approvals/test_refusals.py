"""What the client gets: a 403 JSON error for HTTP, a JSON-RPC error for MCP (read by the SDK's types)."""

from __future__ import annotations

import orjson
from mcp_types import JSONRPCError, JSONRPCResponse, jsonrpc_message_adapter

from ext_proc.approvals import Approval, Mode, Status, http_refusal, mcp_refusal, refusal_for
from ext_proc.errors import ErrorCode
from ext_proc.protocols import mcp
from tests.unit.protocols.helpers import fixture

PENDING = Approval(
    id="apr_AAAAAAAAAAAAAAAAAAAAAA",
    status=Status.PENDING,
    mode=Mode.RETRY,
    agent="agent-1",
    action={"tool": "refund_payment", "arguments": {"amount": 1250}},
    fingerprint="f",
    reason="refund above 500",
    group="finance",
    decision_id="d-1",
    created_at=0.0,
    expires_at=60.0,
)


def _with(status: Status, mode: Mode = Mode.HOLD) -> Approval:
    return Approval(**{**{f: getattr(PENDING, f) for f in PENDING.__slots__}, "status": status, "mode": mode})


def test_the_code_follows_the_status() -> None:
    assert refusal_for(PENDING).code is ErrorCode.APPROVAL_REQUIRED
    assert "retry" in refusal_for(PENDING).message
    assert refusal_for(_with(Status.PENDING)).code is ErrorCode.APPROVAL_REQUIRED
    assert refusal_for(_with(Status.DENIED)).code is ErrorCode.APPROVAL_DENIED
    assert refusal_for(_with(Status.EXPIRED)).code is ErrorCode.APPROVAL_EXPIRED


def test_http_refusal_is_a_403_json_error() -> None:
    status, content_type, body = http_refusal(refusal_for(PENDING))
    assert (status, content_type) == (403, "application/json")
    error = orjson.loads(body)["error"]
    assert error["code"] == "approval_required"
    assert error["approval_id"] == PENDING.id and error["reason"] == "refund above 500"
    assert b"1250" not in body  # the action's arguments are never echoed


def test_mcp_refusal_is_the_calls_jsonrpc_error() -> None:
    (call,) = mcp.parse_request_body(fixture("mcp/tools_call_request.json")).calls
    reply = mcp_refusal(call, refusal_for(_with(Status.DENIED)))
    assert (reply.status, reply.content_type) == (200, "application/json")
    parsed = jsonrpc_message_adapter.validate_json(reply.body)
    assert isinstance(parsed, JSONRPCError)
    assert (parsed.id, parsed.error.code) == (7, -32019)
    assert parsed.error.data == {
        "code": "approval_denied",
        "approval_id": PENDING.id,
        "reason": "refund above 500",
        "message": parsed.error.message,
    }


def test_mcp_refusal_as_a_tool_result_the_model_reads() -> None:
    (call,) = mcp.parse_request_body(fixture("mcp/tools_call_request.json")).calls
    reply = mcp_refusal(call, refusal_for(PENDING), as_tool_result=True)
    parsed = jsonrpc_message_adapter.validate_json(reply.body)
    assert isinstance(parsed, JSONRPCResponse)
    assert PENDING.id in parsed.result["content"][0]["text"]
