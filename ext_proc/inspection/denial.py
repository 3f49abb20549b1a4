"""How a deny reaches the client, in the client's own protocol.

A plain HTTP deny is the policy's status and body (or Chaperone's JSON error). A denied LLM call
gets the provider's error format, so the official SDK raises its usual exception with the
message. A denied MCP or A2A request gets a JSON-RPC error with the request's id at HTTP 200
(202 with no body for a notification), which the SDKs read as that request's error, where a
bare 4xx would surface as a transport failure.
"""

from __future__ import annotations

from typing import Any

import orjson

from ext_proc.inspection.request import A2A, LLM, MCP, InspectedRequest
from ext_proc.policy.evaluator import DenyResponse
from ext_proc.protocols import a2a, mcp

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


def _llm_error(provider: str, message: str, data: dict[str, Any]) -> bytes:
    if provider == "anthropic.messages":
        return orjson.dumps(
            {"type": "error", "error": {"type": "permission_error", "message": message, **data}}
        )
    code = data.get("code", "denied")
    return orjson.dumps(
        {"error": {"message": message, "type": ERROR_TYPE, "code": code, "param": None, **data}}
    )
