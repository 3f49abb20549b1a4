"""JSON-RPC 2.0 classification: every message kind, batches, and malformed input."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import JSONRPCError, jsonrpc_message_adapter

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols import jsonrpc
from tests.unit.protocols.helpers import fixture


def test_request_notification_and_responses_are_told_apart() -> None:
    request = jsonrpc.parse_message({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    notification = jsonrpc.parse_message({"jsonrpc": "2.0", "method": "notifications/initialized"})
    success = jsonrpc.parse_message({"jsonrpc": "2.0", "id": "a", "result": {"tools": []}})
    error = jsonrpc.parse_message(fixture("mcp/error_response.json"))
    assert request == jsonrpc.Request(1, "tools/list", {}, {})
    assert notification == jsonrpc.Notification("notifications/initialized", None, {})
    assert success == jsonrpc.Response("a", {"tools": []}, {})
    assert isinstance(error, jsonrpc.ErrorResponse)
    assert (error.id, error.code, error.message) == (7, -32602, "Unknown tool: refund_payments")
    assert error.data == {"hint": "did you mean refund_payment?"}


def test_a_null_id_is_a_request_not_a_notification() -> None:
    # Section 4: a notification is a request *without* an "id" member; "id": null is discouraged
    # but still expects a response.
    assert isinstance(jsonrpc.parse_message({"jsonrpc": "2.0", "id": None, "method": "m"}), jsonrpc.Request)


@pytest.mark.parametrize("request_id", ["abc", 0, -3, 2.5, None])
def test_ids_may_be_strings_numbers_or_null(request_id: Any) -> None:
    message = jsonrpc.parse_message({"jsonrpc": "2.0", "id": request_id, "result": {}})
    assert message.id == request_id


def test_params_may_be_an_array() -> None:
    message = jsonrpc.parse_message({"jsonrpc": "2.0", "id": 1, "method": "subtract", "params": [42, 23]})
    assert isinstance(message, jsonrpc.Request)
    assert message.params == [42, 23]


def test_raw_keeps_the_message_as_sent() -> None:
    value = fixture("mcp/tools_call_request.json")
    assert jsonrpc.parse_message(value).raw is value


def test_a_batch_keeps_its_order_and_says_it_is_one() -> None:
    body = jsonrpc.parse(fixture("mcp/batch_request.json"))
    assert body.batch
    assert [type(m).__name__ for m in body.messages] == ["Request", "Notification", "Request"]
    assert [getattr(m, "id", None) for m in body.messages] == [20, None, "21"]


def test_a_single_message_is_not_a_batch() -> None:
    body = jsonrpc.parse({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert not body.batch
    assert len(body.messages) == 1


def test_loads_reads_bytes_and_text() -> None:
    assert jsonrpc.loads(b'{"jsonrpc":"2.0","id":1,"result":{}}').messages[0].id == 1
    assert jsonrpc.loads('[{"jsonrpc":"2.0","method":"x"}]').batch


BAD_MESSAGES = [
    ([], "a batch must not be empty"),
    ("text", "expected an object, got string"),
    (42, "expected an object, got number"),
    ({"id": 1, "method": "m"}, 'field "jsonrpc" must be "2.0"'),
    ({"jsonrpc": "1.0", "id": 1, "method": "m"}, 'field "jsonrpc" must be "2.0"'),
    ({"jsonrpc": 2.0, "id": 1, "method": "m"}, 'field "jsonrpc" must be "2.0"'),
    ({"jsonrpc": "2.0", "id": 1, "method": 5}, 'field "method" must be a non-empty string, got number'),
    ({"jsonrpc": "2.0", "id": 1, "method": ""}, 'field "method" must be a non-empty string'),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": "x"},
        'field "params" must be an object or an array',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": None},
        'field "params" must be an object or an array',
    ),
    (
        {"jsonrpc": "2.0", "id": True, "method": "m"},
        'field "id" must be a string, a number or null, got boolean',
    ),
    (
        {"jsonrpc": "2.0", "id": {}, "method": "m"},
        'field "id" must be a string, a number or null, got object',
    ),
    ({"jsonrpc": "2.0", "id": [1], "result": 1}, 'field "id" must be a string, a number or null, got array'),
    ({"jsonrpc": "2.0", "id": 1, "method": "m", "result": {}}, 'must not have "result" or "error"'),
    ({"jsonrpc": "2.0", "id": 1}, 'exactly one of "result" and "error"'),
    ({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {}}, 'exactly one of "result" and "error"'),
    ({"jsonrpc": "2.0", "result": {}}, 'a response must have an "id" field'),
    ({"jsonrpc": "2.0", "id": 1, "error": "boom"}, 'field "error" must be an object, got string'),
    (
        {"jsonrpc": "2.0", "id": 1, "error": {"message": "x"}},
        'field "error.code" must be an integer, got null',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "error": {"code": 1.5, "message": "x"}},
        'field "error.code" must be an integer',
    ),
    (
        {"jsonrpc": "2.0", "id": 1, "error": {"code": True, "message": "x"}},
        'field "error.code" must be an integer',
    ),
    ({"jsonrpc": "2.0", "id": 1, "error": {"code": 1}}, 'field "error.message" must be a string, got null'),
    ([{"jsonrpc": "2.0", "id": 1, "method": "m"}, [1]], "batch item 1: expected an object, got array"),
    ([{"jsonrpc": "2.0", "id": 1, "method": "m"}, {"jsonrpc": "2.0"}], "batch item 1: expected"),
]


@pytest.mark.parametrize(("value", "reason"), BAD_MESSAGES)
def test_malformed_input_is_rejected_with_a_stable_code(value: Any, reason: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        jsonrpc.parse(value)
    assert error.value.code is ErrorCode.JSONRPC_INVALID
    assert error.value.http_status == 400
    assert reason in error.value.message


def test_errors_never_quote_values() -> None:
    with pytest.raises(ChaperoneError) as error:
        jsonrpc.parse({"jsonrpc": "2.0", "id": {"secret": "sk-live-123"}, "method": "m"})
    assert "sk-live" not in str(error.value)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"jsonrpc": "2.0", "id": 1,', ErrorCode.BODY_PARSE_ERROR),
        (b"", ErrorCode.BODY_PARSE_ERROR),
        (b'{"jsonrpc": "2.0", "id": "\xff", "method": "m"}', ErrorCode.BODY_DECODE_ERROR),
        ('{"jsonrpc": "2.0", "id": "\ud800", "method": "m"}', ErrorCode.BODY_DECODE_ERROR),
        (b'{"jsonrpc": "2.0", "id": 1}', ErrorCode.JSONRPC_INVALID),
        (b"[" * 5000 + b"]" * 5000, ErrorCode.BODY_TOO_DEEP),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "a", "method": "b"}', ErrorCode.BODY_DUPLICATE_KEY),
    ],
)
def test_loads_keeps_the_code_of_what_went_wrong(data: bytes | str, code: ErrorCode) -> None:
    with pytest.raises(ChaperoneError) as error:
        jsonrpc.loads(data)
    assert error.value.code is code


def test_error_response_is_what_the_mcp_sdk_reads_as_an_error() -> None:
    built = jsonrpc.error_response(7, jsonrpc.POLICY_DENIED, "denied by policy", {"reasons": ["no refunds"]})
    assert built == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32019, "message": "denied by policy", "data": {"reasons": ["no refunds"]}},
    }
    parsed = jsonrpc_message_adapter.validate_json(jsonrpc.dumps(built))
    assert isinstance(parsed, JSONRPCError)
    assert parsed.error.code == jsonrpc.POLICY_DENIED


def test_error_response_leaves_out_absent_data() -> None:
    assert "data" not in jsonrpc.error_response("x", jsonrpc.INVALID_REQUEST, "bad")["error"]


def test_standard_codes() -> None:
    codes = (jsonrpc.PARSE_ERROR, jsonrpc.INVALID_REQUEST, jsonrpc.METHOD_NOT_FOUND, jsonrpc.INVALID_PARAMS)
    assert codes == (-32700, -32600, -32601, -32602)
    assert jsonrpc.INTERNAL_ERROR == -32603


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"jsonrpc": "2.0", "method": "m"}, True),
        ([{"jsonrpc": "2.0", "method": "m"}], True),
        ([], False),
        ([{"jsonrpc": "2.0"}, {"model": "gpt"}], False),
        ({"model": "gpt-4o", "messages": []}, False),
        (None, False),
    ],
)
def test_is_jsonrpc(value: Any, expected: bool) -> None:
    assert jsonrpc.is_jsonrpc(value) is expected
