"""How a deny reaches the client, in the client's own protocol.

A plain HTTP deny is the policy's status and body (or Chaperone's JSON error). A denied LLM call
gets the provider's error format, so the official SDK raises its usual exception with the
message. A denied MCP or A2A request gets a JSON-RPC error with the request's id at HTTP 200
(202 with no body for a notification), which the SDKs read as that request's error, where a
bare 4xx would surface as a transport failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.request_model import A2A, LLM, MCP, InspectedRequest
from ext_proc.policy.evaluator import DenyResponse
from ext_proc.protocols import a2a, declared, jsonrpc, mcp
from ext_proc.protocols.llm import detect_provider

JSON = ("content-type", "application/json")
ERROR_TYPE = "chaperone_policy"


def protocol_denial(
    request: InspectedRequest | None, deny: DenyResponse, message: str, data: dict[str, Any]
) -> DenyResponse:
    """The deny in the request's protocol; the policy's own body, when it gave one, always wins."""
    if request is None or deny.policy_body:
        return deny
    if request.protocol == MCP and request.mcp_body is not None:
        return _reply(mcp.denied_response(request.mcp_body, message, data), deny)
    if request.protocol == A2A and request.a2a_body is not None:
        return _reply(a2a.denied_response(request.a2a_body, message, data), deny)
    if request.protocol == LLM and request.provider is not None:
        return DenyResponse(deny.status, (*deny.headers, JSON), _llm_error(request.provider, message, data))
    return deny


def _reply(reply: Any, deny: DenyResponse) -> DenyResponse:
    headers = tuple(h for h in deny.headers if h[0] != "content-type")
    if reply.content_type:
        headers = (*headers, ("content-type", reply.content_type))
    return DenyResponse(reply.status, headers, reply.body)


def _llm_error(provider: str, message: str, data: dict[str, Any], status: int = 403) -> bytes:
    if provider == "anthropic.messages":
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message, **data}})
    code = data.get("code", "denied")
    return orjson.dumps(
        {"error": {"message": message, "type": ERROR_TYPE, "code": code, "param": None, **data}}
    )


# Anthropic's error types by status (its SDK picks the exception class by status, and shows these).
_ANTHROPIC_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def provider_shaped(provider: str, deny: DenyResponse) -> DenyResponse:
    """A deny decided before the body is read (the check: a refused credential, a limit, the
    route) in the LLM provider's error format, so that its SDK shows the message, not only the
    status. The policy's own body is left as it is."""
    if deny.policy_body:
        return deny
    try:
        error = orjson.loads(deny.body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return deny
    if not isinstance(error, dict):
        return deny
    message = error.get("message")
    if not isinstance(message, str) or not message:
        reasons = error.get("reasons")
        message = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) and reasons else "denied"
    data = {key: value for key, value in error.items() if key != "message"}
    headers = (*(h for h in deny.headers if h[0] != "content-type"), JSON)
    return DenyResponse(deny.status, headers, _llm_error(provider, message, data, deny.status))


def batch_denial(
    request: InspectedRequest, deny: DenyResponse, reasons: Mapping[int | None, str], data: dict[str, Any]
) -> DenyResponse:
    """A JSON-RPC batch refused whole: every request in it answered with an error, each refused
    call with its own reasons and the others as not executed; nothing reached the upstream."""
    if deny.policy_body or request.mcp_body is None:
        return deny
    refused = ", ".join(str(index) for index in sorted(i for i in reasons if i is not None))
    not_run = f"not executed: the batch was refused (call {refused})"
    answers = [
        jsonrpc.error_response(call.id, jsonrpc.POLICY_DENIED, reasons.get(index, not_run), data)
        for index, call in enumerate(request.mcp_body.calls)
        if call.kind is mcp.Kind.REQUEST
    ]
    return _reply(jsonrpc.reply(answers, batch=True), deny)


# JSON-RPC's own codes for a body that is not JSON, and for JSON that is not a valid request.
_PARSE_ERRORS = frozenset(
    {
        ErrorCode.BODY_PARSE_ERROR,
        ErrorCode.BODY_DECODE_ERROR,
        ErrorCode.BODY_DUPLICATE_KEY,
        ErrorCode.BODY_TOO_DEEP,
        ErrorCode.UNSUPPORTED_CHARSET,
    }
)


def unreadable_denial(
    declared_as: str | None, method: str, path: str, deny: DenyResponse, error: ChaperoneError
) -> DenyResponse:
    """The refusal of a body that is not what its route speaks, in that protocol's error shape:
    a JSON-RPC error with a null id (JSON-RPC 2.0 section 5.1), or the provider's error body,
    at the error's status (400, 415)."""
    status = error.http_status
    data = {"code": error.code.value}
    headers = tuple(h for h in deny.headers if h[0] != "content-type")
    if declared_as in (declared.MCP, declared.A2A) or (
        declared_as is None and error.code is ErrorCode.JSONRPC_INVALID
    ):
        code = jsonrpc.PARSE_ERROR if error.code in _PARSE_ERRORS else jsonrpc.INVALID_REQUEST
        body = jsonrpc.dumps(jsonrpc.error_response(None, code, error.message, data))
        return DenyResponse(status, (*headers, JSON), body)
    provider = detect_provider(method, path)
    if declared_as == declared.ANTHROPIC or (declared_as is None and provider == "anthropic.messages"):
        return DenyResponse(
            status, (*headers, JSON), _provider_error("anthropic.messages", error.message, data)
        )
    if declared_as == declared.OPENAI or (declared_as is None and provider is not None):
        return DenyResponse(status, (*headers, JSON), _provider_error("openai", error.message, data))
    return DenyResponse(status, deny.headers, deny.body)


def _provider_error(provider: str, message: str, data: dict[str, Any]) -> bytes:
    if provider == "anthropic.messages":
        return orjson.dumps(
            {"type": "error", "error": {"type": "invalid_request_error", "message": message, **data}}
        )
    return orjson.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, **data}}
    )
