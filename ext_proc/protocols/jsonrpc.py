"""JSON-RPC 2.0 messages: classify parsed JSON strictly, build error responses.

Follows https://www.jsonrpc.org/specification. A body is one message (an object) or a batch
(a non-empty array of objects, spec section 6). A message is exactly one of:

- a request: ``method`` and an ``id`` member (string, number or null; section 4);
- a notification: ``method`` and no ``id`` member (section 4.1) - it gets no response;
- a success response: ``id`` and ``result`` (section 5);
- an error response: ``id`` and ``error``, an object with an integer ``code`` and a string
  ``message`` (section 5.1).

Every message has ``"jsonrpc": "2.0"``; ``params``, when present, is an object or an array.

Validation fails closed: a batch with one malformed member is rejected whole, where a server
would answer the bad member alone (section 6). A proxy must not forward a batch part of which it
could not read. Errors carry the ``jsonrpc_invalid`` code and name the field and its JSON type,
never its value: values can be secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.json_names import json_type

VERSION = "2.0"

# Standard error codes (section 5.1).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Chaperone's "denied by policy". The JSON-RPC server-error band is -32000..-32099. MCP leaves
# -32000..-32019 to implementations (its SDK uses -32000 and -32001 itself), and A2A allocates
# its own codes upwards from -32001 (-32001..-32009 as of A2A 1.0), so the far end of MCP's
# implementation band collides with neither protocol.
POLICY_DENIED = -32019

RequestId = str | int | float | None
Params = dict[str, Any] | list[Any] | None


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: str
    params: Params
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: Params
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Response:
    """A success response."""

    id: RequestId
    result: Any
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    id: RequestId
    code: int
    message: str
    data: Any
    raw: dict[str, Any] = field(compare=False, repr=False)


Message = Request | Notification | Response | ErrorResponse


@dataclass(frozen=True, slots=True)
class Body:
    """What one HTTP body or one SSE event carried: a message, or the members of a batch."""

    messages: tuple[Message, ...]
    batch: bool


class HttpReply(NamedTuple):
    """A complete HTTP answer for a client: status, content type (None: no body) and body."""

    status: int
    content_type: str | None
    body: bytes


def loads(data: bytes | str, *, http_status: int = 400) -> Body:
    """Parse JSON text strictly (``ext_proc/strict_json.py``) into a Body; the JSON errors keep
    their body_* codes."""
    if isinstance(data, str):
        value = strict_json.loads_text(data, http_status=http_status)
    else:
        value = strict_json.loads(data, http_status=http_status)
    return parse(value)


def dumps(value: Any) -> bytes:
    """Serialize a message or batch built or rewritten by this package (canonically)."""
    return strict_json.dumps(value)


def parse(value: object) -> Body:
    """Classify a parsed JSON value as one message or a batch; raise jsonrpc_invalid otherwise."""
    if isinstance(value, list):
        if not value:
            _fail("a batch must not be empty")
        return Body(tuple(parse_message(item, where=f"batch item {i}") for i, item in enumerate(value)), True)
    return Body((parse_message(value),), False)


def parse_message(value: object, *, where: str = "message") -> Message:
    if not isinstance(value, dict):
        _fail(f"{where}: expected an object, got {json_type(value)}")
    if value.get("jsonrpc") != VERSION:
        _fail(f'{where}: field "jsonrpc" must be "2.0"')
    if "method" in value:
        return _call(value, where)
    return _response(value, where)


def is_jsonrpc(value: object) -> bool:
    """A cheap shape test (for protocol detection): an object or batch claiming JSON-RPC 2.0."""
    if isinstance(value, list):
        return bool(value) and all(
            isinstance(item, dict) and item.get("jsonrpc") == VERSION for item in value
        )
    return isinstance(value, dict) and value.get("jsonrpc") == VERSION


def error_response(id: RequestId, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """An error response (section 5.1); ``data`` is left out when None."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": VERSION, "id": id, "error": error}


def result_response(id: RequestId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "id": id, "result": result}


def reply(responses: Sequence[dict[str, Any]], *, batch: bool) -> HttpReply:
    """Responses as an HTTP answer: 200 with one response, or an array of them for a batch.

    With no response to send (a notification, or a batch of them) it is 202 Accepted with no
    body, as MCP's Streamable HTTP prescribes and as JSON-RPC requires (section 6: nothing is
    returned for a batch of notifications).
    """
    if not responses:
        return HttpReply(202, None, b"")
    return HttpReply(200, "application/json", dumps(list(responses) if batch else responses[0]))


def _call(value: dict[str, Any], where: str) -> Request | Notification:
    if "result" in value or "error" in value:
        _fail(f'{where}: a message with "method" must not have "result" or "error"')
    method = value["method"]
    if not isinstance(method, str) or not method:
        _fail(f'{where}: field "method" must be a non-empty string, got {json_type(method)}')
    params = value.get("params")
    if "params" in value and not isinstance(params, dict | list):
        _fail(f'{where}: field "params" must be an object or an array, got {json_type(params)}')
    if "id" not in value:
        return Notification(method, params, value)
    return Request(_id(value["id"], where), method, params, value)


def _response(value: dict[str, Any], where: str) -> Response | ErrorResponse:
    has_result, has_error = "result" in value, "error" in value
    if has_result == has_error:
        _fail(f'{where}: expected "method", or exactly one of "result" and "error"')
    if "id" not in value:
        _fail(f'{where}: a response must have an "id" field')
    id = _id(value["id"], where)
    if has_result:
        return Response(id, value["result"], value)
    error = value["error"]
    if not isinstance(error, dict):
        _fail(f'{where}: field "error" must be an object, got {json_type(error)}')
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        _fail(f'{where}: field "error.code" must be an integer, got {json_type(code)}')
    if not isinstance(message, str):
        _fail(f'{where}: field "error.message" must be a string, got {json_type(message)}')
    return ErrorResponse(id, code, message, error.get("data"), value)


def _id(value: object, where: str) -> RequestId:
    # bool is an int in Python but not a number in JSON.
    if (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int | float) and not isinstance(value, bool))
    ):
        return value
    _fail(f'{where}: field "id" must be a string, a number or null, got {json_type(value)}')


def _fail(message: str) -> NoReturn:
    raise ChaperoneError(ErrorCode.JSONRPC_INVALID, f"invalid JSON-RPC: {message}", http_status=400)
