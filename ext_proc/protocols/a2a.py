"""Agent2Agent (A2A) over JSON-RPC: what an agent asks another agent, as policy input.

Two generations of the protocol are read:

- A2A 0.2 and 0.3 name methods with slashes (``message/send``, ``message/stream``,
  ``tasks/get``, ``tasks/cancel``, ``tasks/resubscribe``, ``tasks/pushNotificationConfig/*``,
  ``agent/getAuthenticatedExtendedCard``) and tag objects with ``kind``: a part is
  ``{"kind": "text", "text"}``, ``{"kind": "file", "file": {"uri" | "bytes", "mimeType",
  "name"}}`` or ``{"kind": "data", "data"}``; roles are "user" and "agent".
- A2A 1.0 (``a2a-sdk`` 1.x, which still serves 0.3 on request) names them after its gRPC
  service (``SendMessage``, ``SendStreamingMessage``, ``GetTask``, ``ListTasks``,
  ``CancelTask``, ``SubscribeToTask``, ``*TaskPushNotificationConfig*``,
  ``GetExtendedAgentCard``) and uses protobuf JSON: a part is one of ``text``, ``raw``
  (base64), ``url`` or ``data`` beside ``mediaType`` and ``filename``; roles are "ROLE_USER"
  and "ROLE_AGENT".

Policies see one vocabulary: ``method`` is the 0.3 name for both (``SendMessage`` is
"message/send"), ``wire_method`` the name sent, ``version`` "0.3" or "1.0" (null for a method
of neither). ``to_policy_input`` gives, for one message (an array of these for a batch, each
with ``batch`` true)::

    {"protocol": "a2a", "kind": "request" | "notification", "method": "message/send",
     "wire_method": "SendMessage", "version": "1.0", "id": "req-1", "batch": false,
     "agent": "billing.example/a2a", "host": "billing.example", "path": "/a2a",
     "agent_name": null, "tenant": null,
     "message_id": "...", "task_id": "...", "context_id": "...", "role": "user",
     "texts": ["..."], "parts": [{"kind": "text"}, {"kind": "file", "media_type": ...,
     "name": ..., "uri": ..., "inline": false}, {"kind": "data", "data": {...}}],
     "metadata": {...}, "push_url": null, "params": {...}}

Every key is always there (null when the method has no such field). ``agent`` is the name the
integrator knows the peer by (from its agent card) when it passes one, else host and path.
``task_id`` is the task the call is about: the message's ``taskId`` for message methods, the
``id`` (or ``taskId``) param for task methods. ``push_url`` is where a push-notification
config (set at creation, or in a message's configuration) would make the peer send updates.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.json_names import json_type
from ext_proc.protocols import jsonrpc
from ext_proc.protocols.jsonrpc import HttpReply, RequestId
from ext_proc.protocols.locations import Path, TextAt

V0_3 = "0.3"
V1_0 = "1.0"
VERSION_HEADER = "a2a-version"

# A2A 1.0 method -> the A2A 0.3 method it replaces.
METHODS_1_0: Mapping[str, str] = MappingProxyType(
    {
        "SendMessage": "message/send",
        "SendStreamingMessage": "message/stream",
        "GetTask": "tasks/get",
        "ListTasks": "tasks/list",
        "CancelTask": "tasks/cancel",
        "SubscribeToTask": "tasks/resubscribe",
        "CreateTaskPushNotificationConfig": "tasks/pushNotificationConfig/set",
        "GetTaskPushNotificationConfig": "tasks/pushNotificationConfig/get",
        "ListTaskPushNotificationConfigs": "tasks/pushNotificationConfig/list",
        "DeleteTaskPushNotificationConfig": "tasks/pushNotificationConfig/delete",
        "GetExtendedAgentCard": "agent/getAuthenticatedExtendedCard",
    }
)
METHODS_0_3 = frozenset(
    {
        "message/send",
        "message/stream",
        "tasks/get",
        "tasks/cancel",
        "tasks/resubscribe",
        "tasks/pushNotificationConfig/set",
        "tasks/pushNotificationConfig/get",
        "tasks/pushNotificationConfig/list",
        "tasks/pushNotificationConfig/delete",
        "agent/getAuthenticatedExtendedCard",
    }
)
METHODS = METHODS_0_3 | frozenset(METHODS_1_0)

_MESSAGE_METHODS = frozenset({"message/send", "message/stream"})
_TASK_ID_PARAM = frozenset({"tasks/get", "tasks/cancel", "tasks/resubscribe"})
_ROLES = MappingProxyType({"user": "user", "agent": "agent", "ROLE_USER": "user", "ROLE_AGENT": "agent"})


class Kind(enum.StrEnum):
    REQUEST = "request"
    NOTIFICATION = "notification"


@dataclass(frozen=True, slots=True)
class A2aPart:
    kind: str  # "text", "file" or "data"
    path: Path  # where the part is in the JSON-RPC message
    text: str | None = None
    media_type: str | None = None
    name: str | None = None  # a file's name
    uri: str | None = None  # a file sent by reference
    inline: bool = False  # a file sent as base64 bytes
    data: Any = None  # a data part's value

    def summary(self) -> dict[str, Any]:
        """The part as policy input (text parts go to ``texts``; file bytes are never copied)."""
        if self.kind == "text":
            return {"kind": "text"}
        if self.kind == "data":
            return {"kind": "data", "data": self.data}
        return {
            "kind": "file",
            "media_type": self.media_type,
            "name": self.name,
            "uri": self.uri,
            "inline": self.inline,
        }


@dataclass(frozen=True, slots=True)
class A2aCall:
    kind: Kind
    method: str  # the 0.3 name, or the name sent for a method of neither version
    wire_method: str
    version: str | None
    id: RequestId
    params: dict[str, Any]
    message_id: str | None = None
    task_id: str | None = None
    context_id: str | None = None
    role: str | None = None
    parts: tuple[A2aPart, ...] = ()
    metadata: dict[str, Any] | None = None
    push_url: str | None = None
    tenant: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def texts(self) -> tuple[TextAt, ...]:
        """The text parts, each located at its ``text`` field (for scanning and rewriting)."""
        return tuple(
            TextAt((*part.path, "text"), part.text, "part") for part in self.parts if part.text is not None
        )


@dataclass(frozen=True, slots=True)
class A2aRequestBody:
    calls: tuple[A2aCall, ...]
    batch: bool


@dataclass(frozen=True, slots=True)
class A2aTarget:
    """The peer a request goes to: the request's host and path, and its name if known."""

    host: str | None = None
    path: str | None = None
    name: str | None = None  # e.g. the agent card's name, when the integrator maps URLs to cards

    @property
    def agent(self) -> str | None:
        if self.name:
            return self.name
        if self.host is None and self.path is None:
            return None
        return f"{self.host or ''}{(self.path or '').split('?', 1)[0]}"


def parse_request_body(value: object) -> A2aRequestBody:
    """Read a POST body (parsed JSON) into calls; raise jsonrpc_invalid for a malformed one."""
    body = jsonrpc.parse(value)
    calls = []
    for message in body.messages:
        if not isinstance(message, jsonrpc.Request | jsonrpc.Notification):
            _fail("a client sends requests, not responses")
        calls.append(parse_call(message))
    return A2aRequestBody(tuple(calls), body.batch)


def parse_call(message: jsonrpc.Request | jsonrpc.Notification) -> A2aCall:
    wire = message.method
    method, version = _normalize(wire)
    where = wire if version else "message"  # never quote an unknown method's name
    if message.params is not None and not isinstance(message.params, dict):
        _fail(f'{where}: field "params" must be an object, got array')
    params = message.params or {}
    kind = Kind.REQUEST if isinstance(message, jsonrpc.Request) else Kind.NOTIFICATION
    request_id = message.id if isinstance(message, jsonrpc.Request) else None
    fields = _method_fields(method, params, where) if version else {}
    return A2aCall(kind, method, wire, version, request_id, params, raw=message.raw, **fields)


def to_policy_input(
    calls: A2aRequestBody | A2aCall, target: A2aTarget
) -> dict[str, Any] | list[dict[str, Any]]:
    """The ``input.action`` document: an object for one message, an array for a batch."""
    if isinstance(calls, A2aCall):
        return action(calls, target)
    if not calls.batch:
        return action(calls.calls[0], target)
    return [action(call, target, batch=True) for call in calls.calls]


def action(call: A2aCall, target: A2aTarget, *, batch: bool = False) -> dict[str, Any]:
    """The ``input.action`` object of one call (the shape is in the module docstring)."""
    return {
        "protocol": "a2a",
        "kind": call.kind.value,
        "method": call.method,
        "wire_method": call.wire_method,
        "version": call.version,
        "id": call.id,
        "batch": batch,
        "agent": target.agent,
        "host": target.host,
        "path": target.path,
        "agent_name": target.name,
        "tenant": call.tenant,
        "message_id": call.message_id,
        "task_id": call.task_id,
        "context_id": call.context_id,
        "role": call.role,
        "texts": [part.text for part in call.parts if part.text is not None],
        "parts": [part.summary() for part in call.parts],
        "metadata": call.metadata,
        "push_url": call.push_url,
        "params": call.params,
    }


def denied_response(calls: A2aCall | A2aRequestBody, message: str, data: Any = None) -> HttpReply:
    """The answer for calls the policy denies: a JSON-RPC error (``jsonrpc.POLICY_DENIED``) per
    request, at HTTP 200 as A2A servers answer errors. The SDK's client reads a JSON body for
    streaming methods too, so no SSE is needed. ``message`` and ``data`` reach the peer: never
    put a secret in them.
    """
    body = calls if isinstance(calls, A2aRequestBody) else A2aRequestBody((calls,), False)
    errors = [
        jsonrpc.error_response(call.id, jsonrpc.POLICY_DENIED, message, data)
        for call in body.calls
        if call.kind is Kind.REQUEST
    ]
    return jsonrpc.reply(errors, batch=body.batch)


def parse_parts(parts: Any, at: Path) -> tuple[A2aPart, ...]:
    """The parts of a message or an artifact, in either version's encoding."""
    if not isinstance(parts, list):
        _fail(f'field "parts" must be an array, got {json_type(parts)}')
    return tuple(_part(part, (*at, i)) for i, part in enumerate(parts))


def _normalize(wire: str) -> tuple[str, str | None]:
    if wire in METHODS_1_0:
        return METHODS_1_0[wire], V1_0
    if wire in METHODS_0_3:
        return wire, V0_3
    return wire, None


def _method_fields(method: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "tenant": _optional_string(params, "tenant", where),
        "metadata": _optional_object(params, "metadata", where),
    }
    if method in _MESSAGE_METHODS:
        fields.update(_message_fields(params, where))
    elif method in _TASK_ID_PARAM:
        fields["task_id"] = _string(params, "id", where)
    elif method.startswith("tasks/pushNotificationConfig/"):
        fields.update(_push_config_fields(method, params, where))
    elif method == "tasks/list":
        fields["context_id"] = _optional_string(params, "contextId", where)
    return fields


def _message_fields(params: dict[str, Any], where: str) -> dict[str, Any]:
    message = params.get("message")
    if not isinstance(message, dict):
        _fail(f'{where}: field "message" must be an object, got {json_type(message)}')
    configuration = _optional_object(params, "configuration", where) or {}
    # 0.3 calls the push config pushNotificationConfig, 1.0 taskPushNotificationConfig.
    push = configuration.get("pushNotificationConfig") or configuration.get("taskPushNotificationConfig")
    role = _optional_string(message, "role", where)
    return {
        "message_id": _string(message, "messageId", where),
        "task_id": _optional_string(message, "taskId", where),
        "context_id": _optional_string(message, "contextId", where),
        "role": _ROLES.get(role, role) if role is not None else None,
        "parts": parse_parts(message.get("parts"), ("params", "message", "parts")),
        "push_url": _optional_string(push, "url", where) if isinstance(push, dict) else None,
    }


def _push_config_fields(method: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    # 0.3: set has taskId and a nested pushNotificationConfig; get/list/delete name the task "id".
    # 1.0: every config method has taskId; Create carries the config's fields at the top.
    fields: dict[str, Any] = {"task_id": _string(params, "taskId" if "taskId" in params else "id", where)}
    if method == "tasks/pushNotificationConfig/set":
        config = params.get("pushNotificationConfig", params)
        if not isinstance(config, dict):
            _fail(f'{where}: field "pushNotificationConfig" must be an object')
        fields["push_url"] = _string(config, "url", where)
    return fields


def _part(part: Any, at: Path) -> A2aPart:
    if not isinstance(part, dict):
        _fail(f"part {at[-1]} must be an object, got {json_type(part)}")
    if "kind" in part:
        return _part_0_3(part, at)
    return _part_1_0(part, at)


def _part_0_3(part: dict[str, Any], at: Path) -> A2aPart:
    kind = part["kind"]
    if kind == "text":
        return A2aPart("text", at, text=_string(part, "text", "text part"))
    if kind == "data":
        return A2aPart("data", at, data=part.get("data"))
    if kind == "file" and isinstance(part.get("file"), dict):
        file = part["file"]
        return A2aPart(
            "file",
            at,
            media_type=_optional_string(file, "mimeType", "file part"),
            name=_optional_string(file, "name", "file part"),
            uri=_optional_string(file, "uri", "file part"),
            inline="bytes" in file,
        )
    _fail(f"part {at[-1]} has an unknown kind or no file")


def _part_1_0(part: dict[str, Any], at: Path) -> A2aPart:
    media_type = _optional_string(part, "mediaType", "part")
    if "text" in part:
        return A2aPart("text", at, text=_string(part, "text", "text part"), media_type=media_type)
    if "data" in part:
        return A2aPart("data", at, data=part["data"], media_type=media_type)
    if "url" in part or "raw" in part:
        name = _optional_string(part, "filename", "file part")
        uri = _optional_string(part, "url", "file part")
        return A2aPart("file", at, media_type=media_type, name=name, uri=uri, inline="raw" in part)
    _fail(f"part {at[-1]} has none of text, data, url and raw")


def _string(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str):
        _fail(f'{where}: field "{key}" must be a string, got {json_type(value)}')
    return value


def _optional_string(container: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if container.get(key) is None else _string(container, key, where)


def _optional_object(container: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = container.get(key)
    if value is not None and not isinstance(value, dict):
        _fail(f'{where}: field "{key}" must be an object, got {json_type(value)}')
    return value


def _fail(message: str) -> NoReturn:
    raise ChaperoneError(ErrorCode.JSONRPC_INVALID, f"invalid A2A message: {message}", http_status=400)
