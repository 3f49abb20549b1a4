"""A2A requests in both generations (0.3 and 1.0): calls, parts and the policy's input.action."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from a2a.client.errors import A2AClientError
from a2a.client.transports.jsonrpc import JsonRpcTransport
from a2a.compat.v0_3 import types as v03
from a2a.server.routes import jsonrpc_dispatcher
from a2a.types import a2a_pb2
from google.protobuf.json_format import ParseDict

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols import a2a, jsonrpc
from ext_proc.protocols.a2a import A2aCall, A2aTarget
from ext_proc.protocols.locations import rewrite_text
from tests.unit.protocols.helpers import fixture

TARGET = A2aTarget(host="billing.example", path="/a2a?x=1")


def call_of(name: str) -> A2aCall:
    (call,) = a2a.parse_request_body(fixture(f"a2a/{name}")).calls
    return call


@pytest.mark.parametrize("name", ["v0_3/message_send_request.json", "v1_0/send_message_request.json"])
def test_send_message_reads_the_same_in_both_versions(name: str) -> None:
    action = a2a.to_policy_input(call_of(name), TARGET)
    assert isinstance(action, dict)
    assert (action["protocol"], action["kind"], action["method"]) == ("a2a", "request", "message/send")
    assert (action["message_id"], action["context_id"], action["role"]) == ("msg-1", "ctx-1", "user")
    assert action["texts"] == ["Refund payment pay_8842 for jane@example.com."]
    assert action["parts"] == [
        {"kind": "text"},
        {
            "kind": "file",
            "media_type": "application/pdf",
            "name": "invoice.pdf",
            "uri": "https://files.example/invoice.pdf",
            "inline": False,
        },
        {"kind": "file", "media_type": "text/plain", "name": "note.txt", "uri": None, "inline": True},
        {"kind": "data", "data": {"amount": 1250, "currency": "EUR"}},
    ]
    assert action["push_url"] == "https://hooks.example/a2a"
    assert action["metadata"] == {"caller": "billing-agent"}
    assert (action["agent"], action["host"], action["path"], action["agent_name"]) == (
        "billing.example/a2a",
        "billing.example",
        "/a2a?x=1",
        None,
    )
    assert action["batch"] is False


def test_the_version_and_the_wire_name_are_kept() -> None:
    old, new = call_of("v0_3/message_send_request.json"), call_of("v1_0/send_message_request.json")
    assert (old.version, old.wire_method, old.task_id, old.tenant) == ("0.3", "message/send", "task-1", None)
    assert (new.version, new.wire_method, new.task_id, new.tenant) == ("1.0", "SendMessage", None, "acme")


@pytest.mark.parametrize(
    ("name", "method", "task_id"),
    [
        ("v0_3/message_stream_request.json", "message/stream", None),
        ("v1_0/send_streaming_message_request.json", "message/stream", None),
        ("v0_3/tasks_get_request.json", "tasks/get", "task-1"),
        ("v1_0/get_task_request.json", "tasks/get", "task-1"),
        ("v0_3/tasks_cancel_request.json", "tasks/cancel", "task-1"),
        ("v1_0/cancel_task_request.json", "tasks/cancel", "task-1"),
        ("v0_3/push_config_set_request.json", "tasks/pushNotificationConfig/set", "task-1"),
        ("v1_0/create_push_config_request.json", "tasks/pushNotificationConfig/set", "task-1"),
        ("v1_0/list_tasks_request.json", "tasks/list", None),
    ],
)
def test_task_methods(name: str, method: str, task_id: str | None) -> None:
    call = call_of(name)
    assert (call.method, call.task_id) == (method, task_id)


def test_a_push_config_exposes_where_the_peer_would_send_updates() -> None:
    for name in ("v0_3/push_config_set_request.json", "v1_0/create_push_config_request.json"):
        assert call_of(name).push_url == "https://hooks.attacker.example/collect"


def test_list_tasks_names_its_context() -> None:
    assert call_of("v1_0/list_tasks_request.json").context_id == "ctx-1"


@pytest.mark.parametrize(
    ("method", "params", "task_id"),
    [
        ("tasks/pushNotificationConfig/get", {"id": "task-1", "pushNotificationConfigId": "c1"}, "task-1"),
        ("tasks/pushNotificationConfig/list", {"id": "task-1"}, "task-1"),
        ("tasks/pushNotificationConfig/delete", {"id": "task-1", "pushNotificationConfigId": "c1"}, "task-1"),
        ("GetTaskPushNotificationConfig", {"taskId": "task-1", "id": "c1"}, "task-1"),
        ("ListTaskPushNotificationConfigs", {"taskId": "task-1"}, "task-1"),
        ("DeleteTaskPushNotificationConfig", {"taskId": "task-1", "id": "c1"}, "task-1"),
        ("SubscribeToTask", {"id": "task-1"}, "task-1"),
        ("tasks/resubscribe", {"id": "task-1"}, "task-1"),
        ("GetExtendedAgentCard", {}, None),
        ("agent/getAuthenticatedExtendedCard", None, None),
    ],
)
def test_other_methods_of_both_versions(
    method: str, params: dict[str, Any] | None, task_id: str | None
) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    call = a2a.parse_request_body(message).calls[0]
    assert call.task_id == task_id
    assert call.version in ("0.3", "1.0")
    assert call.method in a2a.METHODS_0_3 or call.method == "tasks/list"


def test_an_unknown_method_is_read_generically() -> None:
    call = call_of_value({"jsonrpc": "2.0", "id": 1, "method": "x/custom", "params": {"message": 5}})
    action = a2a.action(call, A2aTarget())
    assert (action["method"], action["wire_method"], action["version"]) == ("x/custom", "x/custom", None)
    assert action["params"] == {"message": 5}
    assert action["agent"] is None
    assert action["texts"] == []


def call_of_value(value: Any) -> A2aCall:
    return a2a.parse_request_body(value).calls[0]


def test_the_agent_name_wins_over_host_and_path() -> None:
    action = a2a.action(call_of("v0_3/tasks_get_request.json"), A2aTarget("h", "/p", name="Refunds Agent"))
    assert (action["agent"], action["agent_name"]) == ("Refunds Agent", "Refunds Agent")


def test_a_batch_gives_one_action_per_message() -> None:
    body = [fixture("a2a/v0_3/tasks_get_request.json"), fixture("a2a/v1_0/cancel_task_request.json")]
    actions = a2a.to_policy_input(a2a.parse_request_body(body), TARGET)
    assert isinstance(actions, list)
    assert [(a["method"], a["batch"]) for a in actions] == [("tasks/get", True), ("tasks/cancel", True)]


def test_outgoing_texts_can_be_rewritten_and_stay_valid() -> None:
    for name, validate in (
        ("v0_3/message_send_request.json", v03.SendMessageRequest.model_validate),
        ("v1_0/send_message_request.json", lambda m: ParseDict(m["params"], a2a_pb2.SendMessageRequest())),
    ):
        call = call_of(name)
        (text,) = call.texts
        assert text.pointer == "/params/message/parts/0/text"
        rewritten = rewrite_text(call.raw, text.path, "Refund payment pay_8842 for [EMAIL].")
        validate(rewritten)
        assert a2a.parse_request_body(rewritten).calls[0].texts[0].text.endswith("[EMAIL].")


MALFORMED = [
    ({"jsonrpc": "2.0", "id": 1, "result": {}}, "a client sends requests, not responses"),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}},
        'field "message" must be an object, got null',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {"parts": []}}},
        'field "messageId"',
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "message/send",
            "params": {"message": {"messageId": "m", "parts": {}}},
        },
        'field "parts" must be an array, got object',
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "message/send",
            "params": {"message": {"messageId": "m", "parts": [{"kind": "video"}]}},
        },
        "part 0 has an unknown kind",
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": {"messageId": "m", "parts": [{"mediaType": "x"}]}},
        },
        "part 0 has none of text, data, url and raw",
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": {"messageId": "m", "parts": [{"text": 5}]}},
        },
        'text part: field "text" must be a string, got number',
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": {"messageId": "m", "parts": ["hi"]}},
        },
        "part 0 must be an object, got string",
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {}},
        'tasks/get: field "id" must be a string',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": [1]},
        'GetTask: field "params" must be an object',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "t", "metadata": []}},
        'field "metadata" must be an object',
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tasks/pushNotificationConfig/set",
            "params": {"taskId": "t", "pushNotificationConfig": 1},
        },
        'field "pushNotificationConfig" must be an object',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "CreateTaskPushNotificationConfig", "params": {"taskId": "t"}},
        'field "url"',
    ),
]


@pytest.mark.parametrize(("value", "reason"), MALFORMED)
def test_malformed_a2a_messages_are_rejected(value: Any, reason: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        a2a.parse_request_body(value)
    assert error.value.code is ErrorCode.JSONRPC_INVALID
    assert reason in error.value.message


def test_a_notification_has_no_id() -> None:
    call = call_of_value({"jsonrpc": "2.0", "method": "tasks/cancel", "params": {"id": "t"}})
    assert (call.kind, call.id) == (a2a.Kind.NOTIFICATION, None)


def test_every_method_is_one_the_sdk_serves() -> None:
    # The SDK's JSON-RPC server: 1.0 methods, and 0.3 ones through its compatibility adapter
    # (imported through the dispatcher: importing the adapter first is circular in the SDK).
    assert set(a2a.METHODS_1_0) == set(jsonrpc_dispatcher.JsonRpcDispatcher.METHOD_TO_MODEL)
    assert set(jsonrpc_dispatcher.JSONRPC03Adapter.METHOD_TO_MODEL) == a2a.METHODS_0_3
    assert jsonrpc.is_jsonrpc(fixture("a2a/v1_0/send_message_request.json"))


def test_a_denied_request_gets_a_jsonrpc_error_with_its_id() -> None:
    reply = a2a.denied_response(
        call_of("v1_0/send_message_request.json"), "denied by policy", {"decision_id": "d-1"}
    )
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert orjson.loads(reply.body) == {
        "jsonrpc": "2.0",
        "id": "3f1e2d7c-5b7a-4c39-9d2e-2b8f4e5a6c01",
        "error": {"code": -32019, "message": "denied by policy", "data": {"decision_id": "d-1"}},
    }
    v03.JSONRPCErrorResponse.model_validate_json(reply.body)


def test_a_denied_batch_and_a_denied_notification() -> None:
    body = [
        fixture("a2a/v0_3/tasks_get_request.json"),
        {"jsonrpc": "2.0", "method": "tasks/cancel", "params": {"id": "t"}},
    ]
    reply = a2a.denied_response(a2a.parse_request_body(body), "no")
    assert [error["id"] for error in orjson.loads(reply.body)] == [3]
    notification = a2a.parse_request_body(body[1])
    assert a2a.denied_response(notification, "no") == (202, None, b"")


@pytest.mark.parametrize("streaming", [False, True])
async def test_the_sdk_client_reads_the_denial(streaming: bool) -> None:
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        (call,) = a2a.parse_request_body(orjson.loads(request.content)).calls
        sent.append(a2a.action(call, A2aTarget(request.url.host, request.url.path)))
        status, content_type, body = a2a.denied_response(call, "message/send denied by policy")
        return httpx.Response(status, headers={"content-type": content_type or ""}, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        transport = JsonRpcTransport(http, a2a_pb2.AgentCard(name="refunds"), "http://refunds.internal/a2a")
        request = a2a_pb2.SendMessageRequest(
            message=a2a_pb2.Message(
                message_id="m-1", role=a2a_pb2.ROLE_USER, parts=[a2a_pb2.Part(text="Refund pay_1")]
            )
        )
        with pytest.raises(A2AClientError, match="-32019: message/send denied by policy"):
            if streaming:
                async for _ in transport.send_message_streaming(request):
                    pass
            else:
                await transport.send_message(request)
    (action,) = sent
    assert (action["method"], action["wire_method"], action["agent"]) == (
        "message/stream" if streaming else "message/send",
        "SendStreamingMessage" if streaming else "SendMessage",
        "refunds.internal/a2a",
    )
    assert action["texts"] == ["Refund pay_1"]
