"""MCP requests: calls, the policy's input.action, pinned arguments, denials, correlation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from mcp_types import JSONRPCError, JSONRPCResponse, jsonrpc_message_adapter, methods

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols import jsonrpc, mcp
from ext_proc.protocols.mcp import Kind, McpCall
from tests.unit.protocols.helpers import fixture


def call_of(name: str) -> McpCall:
    (call,) = mcp.parse_request_body(fixture(f"mcp/{name}")).calls
    return call


def test_tools_call_becomes_the_action_the_policy_sees() -> None:
    call = call_of("tools_call_request.json")
    assert (call.kind, call.method, call.id, call.tool) == (Kind.REQUEST, "tools/call", 7, "refund_payment")
    assert call.arguments == {"payment_id": "pay_8842", "amount": 1250}
    assert mcp.to_policy_input(call, "sess-1") == {
        "protocol": "mcp",
        "kind": "request",
        "method": "tools/call",
        "id": 7,
        "session_id": "sess-1",
        "batch": False,
        "params": fixture("mcp/tools_call_request.json")["params"],
        "tool": "refund_payment",
        "arguments": {"payment_id": "pay_8842", "amount": 1250},
        "listing": False,
    }


def test_initialize_exposes_the_client() -> None:
    action = mcp.to_policy_input(call_of("initialize_request.json"), None)
    assert isinstance(action, dict)
    assert action["method"] == "initialize"
    assert action["session_id"] is None
    assert action["protocol_version"] == "2025-06-18"
    assert action["client_info"] == {"name": "billing-agent", "title": "Billing Agent", "version": "1.4.2"}
    assert action["capabilities"] == {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {}}


def test_a_2026_request_carries_the_client_in_its_meta() -> None:
    call = call_of("tools_call_request_2026.json")
    assert call.protocol_version == "2026-07-28"
    assert call.client_info == {"name": "billing-agent", "version": "1.4.2"}
    action = mcp.action(call, "s")
    assert (action["tool"], action["protocol_version"], action["capabilities"]) == (
        "get_payment",
        "2026-07-28",
        {"sampling": {}},
    )


def test_initialized_is_a_notification_without_id() -> None:
    call = call_of("initialized_notification.json")
    assert (call.kind, call.method, call.id, call.params) == (
        Kind.NOTIFICATION,
        "notifications/initialized",
        None,
        {},
    )
    action = mcp.action(call, "s")
    assert action["kind"] == "notification"
    assert action["id"] is None
    assert "tool" not in action


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("resources_read_request.json", {"uri": "file:///srv/reports/q3.md"}),
        ("prompts_get_request.json", {"prompt": "summarize_dispute", "arguments": {"dispute_id": "dp_77"}}),
        ("tools_list_request.json", {}),
        ("prompts_list_request.json", {}),
        ("resources_list_request.json", {}),
        ("ping_request.json", {}),
    ],
)
def test_each_method_adds_its_own_fields(name: str, fields: dict[str, Any]) -> None:
    action = mcp.action(call_of(name), "s")
    common = {"protocol", "kind", "method", "id", "session_id", "batch", "params"}
    assert set(action) == common | set(fields)
    assert {key: action[key] for key in fields} == fields


def test_unknown_methods_are_read_generically() -> None:
    message = {"jsonrpc": "2.0", "id": 3, "method": "x-vendor/run", "params": {"depth": 2}}
    action = mcp.action(mcp.parse_call(jsonrpc.parse_message(message)), "s")
    assert (action["method"], action["params"]) == ("x-vendor/run", {"depth": 2})


def test_a_batch_gives_one_action_per_message() -> None:
    body = mcp.parse_request_body(fixture("mcp/batch_request.json"))
    actions = mcp.to_policy_input(body, "s")
    assert isinstance(actions, list)
    assert [(a["kind"], a["method"], a["id"], a.get("tool")) for a in actions] == [
        ("request", "tools/call", 20, "get_payment"),
        ("notification", "notifications/progress", None, None),
        ("request", "tools/call", "21", "refund_payment"),
    ]
    assert all(a["batch"] for a in actions)
    assert [c.id for c in body.requests] == [20, "21"]


def test_a_client_response_to_a_server_request() -> None:
    call = call_of("sampling_client_response.json")
    assert (call.kind, call.method, call.id) == (Kind.RESPONSE, None, 100)
    action = mcp.action(call, "s")
    assert action["result"]["content"] == {"type": "text", "text": "fraud"}
    error = mcp.action(mcp.parse_call(jsonrpc.parse_message(fixture("mcp/error_response.json"))), "s")
    assert error["error"]["code"] == -32602
    assert "result" not in error


MALFORMED = [
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}},
        'tools/call: field "name"',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}},
        'field "name" must be a string',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "arguments": [1]}},
        'field "arguments" must be an object, got array',
    ),
    ({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, 'field "name" must be a string, got null'),
    ({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {}}, 'resources/read: field "uri"'),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": None}},
        'prompts/get: field "name"',
    ),
    ({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}, 'field "protocolVersion"'),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "x", "capabilities": {}},
        },
        'field "clientInfo" must be an object, got null',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]},
        'tools/list: field "params" must be an object',
    ),
    ({"jsonrpc": "2.0", "id": 1, "method": "x-secret-name", "params": [1]}, 'message: field "params"'),
    ({"jsonrpc": "2.0", "id": None, "method": "tools/list"}, 'field "id" must not be null'),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": 2026}},
        },
        "tools/list _meta: field",
    ),
]


@pytest.mark.parametrize(("value", "reason"), MALFORMED)
def test_malformed_mcp_messages_are_rejected(value: Any, reason: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        mcp.parse_request_body(value)
    assert error.value.code is ErrorCode.JSONRPC_INVALID
    assert error.value.http_status == 400
    assert reason in error.value.message
    assert "x-secret-name" not in error.value.message


def test_pin_arguments_forces_values_and_keeps_the_rest() -> None:
    params = fixture("mcp/tools_call_request.json")["params"]
    pinned = mcp.pin_arguments(params, {"dry_run": True, "amount": 100})
    assert pinned["arguments"] == {"payment_id": "pay_8842", "amount": 100, "dry_run": True}
    assert pinned["name"] == "refund_payment"
    assert pinned["_meta"] == {"progressToken": "p-7"}
    assert params["arguments"] == {"payment_id": "pay_8842", "amount": 1250}  # not changed in place
    # The pinned call is still a valid tools/call for the SDK.
    methods.parse_client_request("tools/call", "2025-06-18", pinned)


def test_pin_arguments_adds_arguments_when_there_were_none() -> None:
    assert mcp.pin_arguments({"name": "t"}, {"dry_run": True}) == {
        "name": "t",
        "arguments": {"dry_run": True},
    }


def test_pin_arguments_refuses_arguments_that_are_not_an_object() -> None:
    with pytest.raises(ChaperoneError) as error:
        mcp.pin_arguments({"name": "t", "arguments": "x"}, {"dry_run": True})
    assert error.value.code is ErrorCode.JSONRPC_INVALID


def test_a_denied_request_gets_a_jsonrpc_error_with_its_id() -> None:
    reply = mcp.denied_response(
        call_of("tools_call_request.json"), "refunds need approval", {"decision_id": "d-1"}
    )
    assert (reply.status, reply.content_type) == (200, "application/json")
    parsed = jsonrpc_message_adapter.validate_json(reply.body)
    assert isinstance(parsed, JSONRPCError)
    assert (parsed.id, parsed.error.code, parsed.error.message) == (7, -32019, "refunds need approval")
    assert parsed.error.data == {"decision_id": "d-1"}


def test_a_denied_notification_gets_202_and_no_body() -> None:
    status, content_type, body = mcp.denied_response(call_of("initialized_notification.json"), "no")
    assert (status, content_type, body) == (202, None, b"")


def test_a_denied_batch_answers_every_request_in_order() -> None:
    reply = mcp.denied_response(mcp.parse_request_body(fixture("mcp/batch_request.json")), "denied")
    answers = orjson.loads(reply.body)
    assert reply.status == 200
    assert [a["id"] for a in answers] == [20, "21"]
    for answer in answers:
        assert isinstance(jsonrpc_message_adapter.validate_python(answer), JSONRPCError)


def test_a_denial_can_be_a_tool_error_the_model_sees() -> None:
    reply = mcp.denied_response(
        call_of("tools_call_request.json"), "refunds need approval", as_tool_result=True
    )
    parsed = jsonrpc_message_adapter.validate_json(reply.body)
    assert isinstance(parsed, JSONRPCResponse)
    for version in ("2025-06-18", "2026-07-28"):
        result = methods.parse_server_result("tools/call", version, parsed.result)
        assert getattr(result, "is_error", None) is True
    assert parsed.result["content"] == [{"type": "text", "text": "refunds need approval"}]


def test_as_tool_result_applies_to_tools_call_only() -> None:
    reply = mcp.denied_response(call_of("resources_read_request.json"), "no", as_tool_result=True)
    assert isinstance(jsonrpc_message_adapter.validate_json(reply.body), JSONRPCError)


def test_pending_calls_match_responses_by_id_and_json_type() -> None:
    pending = mcp.PendingCalls()
    pending.add(mcp.parse_request_body(fixture("mcp/batch_request.json")))
    assert len(pending) == 2  # the notification expects nothing
    first = pending.match(jsonrpc.parse_message({"jsonrpc": "2.0", "id": 20, "result": {}}))
    second = pending.match(
        jsonrpc.parse_message({"jsonrpc": "2.0", "id": "21", "error": {"code": 1, "message": "x"}})
    )
    assert first is not None and first.tool == "get_payment"
    assert second is not None and second.tool == "refund_payment"
    assert pending.match(jsonrpc.parse_message({"jsonrpc": "2.0", "id": "20", "result": {}})) is None
    assert pending.match(jsonrpc.parse_message({"jsonrpc": "2.0", "id": 21, "result": {}})) is None
    assert pending.match(jsonrpc.parse_message(fixture("mcp/sampling_request.json"))) is None


def test_listing_action_is_the_tools_call_action_of_a_listed_tool() -> None:
    tool = fixture("mcp/tools_list_result.json")["result"]["tools"][1]
    action = mcp.listing_action(tool, "s")
    call = mcp.action(call_of("tools_call_request.json"), "s")
    assert {k: action[k] for k in ("protocol", "kind", "method", "tool", "session_id")} == {
        k: call[k] for k in ("protocol", "kind", "method", "tool", "session_id")
    }
    assert action["listing"] is True
    assert "arguments" not in action
    assert action["definition"]["annotations"] == {"destructiveHint": True, "idempotentHint": False}
