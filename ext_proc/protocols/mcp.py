"""Model Context Protocol over Streamable HTTP: what a client asks, as policy input; denials.

Follows the MCP specification, revisions 2025-06-18, 2025-11-25 and 2026-07-28 (and reads the
older 2024-11-05 and 2025-03-26 traffic the same way). The client POSTs one JSON-RPC message
per request; 2025-03-26 also allowed a batch (removed in 2025-06-18), which is read here too.
Each message becomes an ``McpCall``; ``to_policy_input`` turns the calls of one body into the
``input.action`` document a Rego policy sees:

One message (``batch`` false) gives one object; a batch gives an array of such objects, each
with ``batch`` true, in body order. Every object has::

    {"protocol": "mcp", "kind": "request" | "notification" | "response",
     "method": "tools/call" (null for a response), "id": 7 (null for a notification),
     "session_id": "<Mcp-Session-Id>" or null, "batch": false, "params": {...}}

and, by method:

- ``tools/call``: ``"tool": "refund_payment", "arguments": {...}, "listing": false``;
- ``prompts/get``: ``"prompt": "<name>", "arguments": {...}``;
- ``resources/read``, ``resources/subscribe``, ``resources/unsubscribe``: ``"uri": "..."``;
- ``initialize``, and any request of the 2026-07-28 revision (which carries them in
  ``params._meta``): ``"protocol_version"``, ``"client_info"``, ``"capabilities"``;
- a response (the client answering a server's sampling, elicitation or roots request):
  ``"result"``, or ``"error"``.

``listing_action(tool, session_id)`` builds the action a ``tools/call`` of a listed tool would
have, with ``"listing": true``, no ``arguments`` and the tool's ``definition``: evaluating the
same policy on it is how the ``tools/list`` result is filtered (see ``mcp_results``).

A denied request gets a JSON-RPC error with its id at HTTP 200 and ``application/json``
(``denied_response``), which every Streamable HTTP client reads as that request's error. A 4xx
is riskier: the Python SDK reads a JSON-RPC error body at 4xx only since 2.x, and otherwise
turns the status into a generic error, or a 404 into "session terminated". A notification or a
client response gets 202 Accepted with no body, as the transport prescribes for those
(basic/transports, "Sending Messages to the Server"). The server's side (results, ``tools/list``
filtering, texts to scan) is ``mcp_results``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.json_names import json_type
from ext_proc.protocols import jsonrpc
from ext_proc.protocols.jsonrpc import HttpReply, RequestId

SESSION_HEADER = "mcp-session-id"
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
# 2026-07-28 mirrors the method and the tool/prompt/resource name in headers.
METHOD_HEADER = "mcp-method"

INITIALIZE = "initialize"
TOOLS_LIST = "tools/list"
TOOLS_CALL = "tools/call"
RESOURCES_READ = "resources/read"
PROMPTS_GET = "prompts/get"

# Requests a client sends, in any revision (2025-11-25 adds tasks/*, 2026-07-28 server/discover
# and subscriptions/listen and drops initialize, logging/setLevel and resources/(un)subscribe).
CLIENT_REQUESTS = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "tasks/get",
        "tasks/result",
        "tasks/list",
        "tasks/cancel",
        "server/discover",
        "subscriptions/listen",
    }
)
CLIENT_NOTIFICATIONS = frozenset(
    {
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
        "notifications/tasks/status",
    }
)
CLIENT_METHODS = CLIENT_REQUESTS | CLIENT_NOTIFICATIONS

# 2026-07-28 per-request envelope keys in params._meta (basic/lifecycle of that revision).
_META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
_META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
_META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
_URI_METHODS = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})


class Kind(enum.StrEnum):
    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"  # the client answering a request the server sent it


@dataclass(frozen=True, slots=True)
class McpCall:
    """One message a client sent, with the fields a policy decides on."""

    kind: Kind
    method: str | None  # None for a response
    id: RequestId  # None for a notification
    params: dict[str, Any]  # {} when the message has none
    tool: str | None = None  # tools/call
    prompt: str | None = None  # prompts/get
    arguments: dict[str, Any] | None = None  # tools/call, prompts/get
    uri: str | None = None  # resources/read, resources/(un)subscribe
    protocol_version: str | None = None  # initialize, or 2026-07-28 params._meta
    client_info: dict[str, Any] | None = None
    capabilities: dict[str, Any] | None = None
    result: Any = None  # a response's result
    error: dict[str, Any] | None = None  # a response's error object
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class McpRequestBody:
    calls: tuple[McpCall, ...]
    batch: bool

    @property
    def requests(self) -> tuple[McpCall, ...]:
        """The calls that expect a response."""
        return tuple(call for call in self.calls if call.kind is Kind.REQUEST)


def parse_request_body(value: object) -> McpRequestBody:
    """Read a POST body (parsed JSON) into calls; raise jsonrpc_invalid for a malformed one."""
    body = jsonrpc.parse(value)
    return McpRequestBody(tuple(_call(message) for message in body.messages), body.batch)


def parse_call(message: jsonrpc.Message) -> McpCall:
    return _call(message)


def to_policy_input(
    calls: McpRequestBody | McpCall, session_id: str | None
) -> dict[str, Any] | list[dict[str, Any]]:
    """The ``input.action`` document: an object for one message, an array for a batch."""
    if isinstance(calls, McpCall):
        return action(calls, session_id)
    if not calls.batch:
        return action(calls.calls[0], session_id)
    return [action(call, session_id, batch=True) for call in calls.calls]


def action(call: McpCall, session_id: str | None, *, batch: bool = False) -> dict[str, Any]:
    """The ``input.action`` object of one call (the shapes are in the module docstring)."""
    document: dict[str, Any] = {
        "protocol": "mcp",
        "kind": call.kind.value,
        "method": call.method,
        "id": call.id,
        "session_id": session_id,
        "batch": batch,
        "params": call.params,
    }
    if call.method == TOOLS_CALL:
        document.update(tool=call.tool, arguments=call.arguments, listing=False)
    elif call.method == PROMPTS_GET:
        document.update(prompt=call.prompt, arguments=call.arguments)
    elif call.method in _URI_METHODS:
        document["uri"] = call.uri
    if call.protocol_version is not None or call.method == INITIALIZE:
        document.update(
            protocol_version=call.protocol_version,
            client_info=call.client_info,
            capabilities=call.capabilities,
        )
    if call.kind is Kind.RESPONSE:
        document["error" if call.error is not None else "result"] = (
            call.error if call.error is not None else call.result
        )
    return document


def listing_action(tool: Mapping[str, Any], session_id: str | None) -> dict[str, Any]:
    """The action a ``tools/call`` of this listed tool would have, for filtering ``tools/list``."""
    return {
        "protocol": "mcp",
        "kind": Kind.REQUEST.value,
        "method": TOOLS_CALL,
        "id": None,
        "session_id": session_id,
        "batch": False,
        "params": {"name": tool.get("name")},
        "tool": tool.get("name"),
        "listing": True,
        "definition": dict(tool),
    }


def pin_arguments(call_params: Mapping[str, Any], pinned: Mapping[str, Any]) -> dict[str, Any]:
    """``tools/call`` params with the ``pinned`` arguments set to fixed values (least privilege).

    Top-level keys of ``pinned`` replace the client's values, or are added. Under 2026-07-28 an
    argument the tool's inputSchema mirrors into an ``Mcp-Param-*`` header (``x-mcp-header``)
    needs that header changed too, or the server refuses the call (HEADER_MISMATCH).
    """
    arguments = call_params.get("arguments", {})
    if not isinstance(arguments, dict):
        _fail(f'tools/call: field "params.arguments" must be an object, got {json_type(arguments)}')
    return {**call_params, "arguments": {**arguments, **pinned}}


def denied_response(
    calls: McpCall | McpRequestBody, message: str, data: Any = None, *, as_tool_result: bool = False
) -> HttpReply:
    """The answer for calls the policy denies, valid for the Streamable HTTP client.

    Each request gets a JSON-RPC error (code ``jsonrpc.POLICY_DENIED``) with its id; a batch gets
    an array of them. With nothing to answer (notifications, client responses) it is 202 with no
    body. ``as_tool_result`` answers a denied ``tools/call`` with a tool result that has
    ``isError`` instead, which the model sees and can act on (the spec's advice for errors a
    model should see, server/tools "Error Handling"). ``message`` and ``data`` reach the client:
    never put a secret in them.
    """
    body = calls if isinstance(calls, McpRequestBody) else McpRequestBody((calls,), False)
    return jsonrpc.reply(
        [_denial(call, message, data, as_tool_result) for call in body.requests], batch=body.batch
    )


class PendingCalls:
    """Per stream: the requests sent, so that a response is read by the method it answers.

    A response carries only the request's id (JSON-RPC section 5). Ids are told apart by JSON
    type, as the client does: 1 and "1" are different requests.
    """

    def __init__(self) -> None:
        self._calls: dict[tuple[bool, RequestId], McpCall] = {}

    def add(self, calls: McpRequestBody | Iterable[McpCall]) -> None:
        for call in calls.calls if isinstance(calls, McpRequestBody) else calls:
            if call.kind is Kind.REQUEST:
                self._calls[_key(call.id)] = call

    def match(self, message: jsonrpc.Message) -> McpCall | None:
        """The request a response answers; None for other messages or an unknown id."""
        if isinstance(message, jsonrpc.Response | jsonrpc.ErrorResponse):
            return self._calls.get(_key(message.id))
        return None

    def __len__(self) -> int:
        return len(self._calls)


def _key(request_id: RequestId) -> tuple[bool, RequestId]:
    return isinstance(request_id, str), request_id


def _denial(call: McpCall, message: str, data: Any, as_tool_result: bool) -> dict[str, Any]:
    if as_tool_result and call.method == TOOLS_CALL:
        # resultType is required from 2026-07-28 on; earlier revisions ignore unknown fields.
        result = {"content": [{"type": "text", "text": message}], "isError": True, "resultType": "complete"}
        return jsonrpc.result_response(call.id, result)
    return jsonrpc.error_response(call.id, jsonrpc.POLICY_DENIED, message, data)


def _call(message: jsonrpc.Message) -> McpCall:
    if isinstance(message, jsonrpc.Response):
        return McpCall(Kind.RESPONSE, None, message.id, {}, result=message.result, raw=message.raw)
    if isinstance(message, jsonrpc.ErrorResponse):
        error = message.raw["error"]
        return McpCall(Kind.RESPONSE, None, message.id, {}, error=error, raw=message.raw)
    method = message.method
    where = method if method in CLIENT_METHODS else "message"  # never quote an unknown name
    if message.params is not None and not isinstance(message.params, dict):
        _fail(f'{where}: field "params" must be an object, got array')  # MCP: basic, "Requests"
    params = message.params or {}
    fields = _method_fields(method, params)
    if isinstance(message, jsonrpc.Notification):
        return McpCall(Kind.NOTIFICATION, method, None, params, raw=message.raw, **fields)
    if message.id is None:
        _fail(f'{where}: field "id" must not be null')  # MCP: basic, "Requests"
    return McpCall(Kind.REQUEST, method, message.id, params, raw=message.raw, **fields)


def _method_fields(method: str, params: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = _envelope(method, params)
    if method == TOOLS_CALL:
        fields.update(tool=_string(params, "name", method), arguments=_arguments(params, method))
    elif method == PROMPTS_GET:
        fields.update(prompt=_string(params, "name", method), arguments=_arguments(params, method))
    elif method in _URI_METHODS:
        fields["uri"] = _string(params, "uri", method)
    return fields


def _envelope(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Protocol version, client info and capabilities: initialize's, or 2026-07-28's _meta."""
    if method == INITIALIZE:
        return {
            "protocol_version": _string(params, "protocolVersion", method),
            "client_info": _object(params, "clientInfo", method, required=True),
            "capabilities": _object(params, "capabilities", method, required=True),
        }
    meta = params.get("_meta")
    if not isinstance(meta, dict) or _META_PROTOCOL_VERSION not in meta:
        return {}
    where = f"{method} _meta"
    return {
        "protocol_version": _string(meta, _META_PROTOCOL_VERSION, where),
        "client_info": _object(meta, _META_CLIENT_INFO, where, required=False),
        "capabilities": _object(meta, _META_CAPABILITIES, where, required=False),
    }


def _string(params: Mapping[str, Any], name: str, method: str) -> str:
    value = params.get(name)
    if not isinstance(value, str):
        _fail(f'{method}: field "{name}" must be a string, got {json_type(value)}')
    return value


def _object(params: Mapping[str, Any], name: str, method: str, *, required: bool) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        _fail(f'{method}: field "{name}" must be an object, got {json_type(value)}')
    return value


def _arguments(params: Mapping[str, Any], method: str) -> dict[str, Any]:
    return _object(params, "arguments", method, required=False) or {}


def _fail(message: str) -> NoReturn:
    raise ChaperoneError(ErrorCode.JSONRPC_INVALID, f"invalid MCP message: {message}", http_status=400)
