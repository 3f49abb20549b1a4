"""Recognizing request bodies: protocol, action, and the texts scanners read with their source."""

from __future__ import annotations

import orjson
import pytest

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.request import OTHER, TOOL_RESULT, USER, inspect_request
from ext_proc.inspection.texts import FIELD, KEYS

JSON = {"content-type": "application/json"}


def inspect(path: str, body: object, headers: dict[str, str] | None = None, method: str = "POST"):  # type: ignore[no-untyped-def]
    data = orjson.dumps(body) if not isinstance(body, bytes) else body
    return inspect_request(method, path, {**JSON, **(headers or {})}, data, data.decode())


def test_an_openai_chat_call() -> None:
    request = inspect(
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "c1", "content": "tool says"},
            ],
        },
    )
    assert request.protocol == "llm" and request.provider == "openai.chat"
    assert request.action["model"] == "gpt-4o"
    sources = {text.text: text.source for text in request.texts if not text.is_key}
    # One-token strings (ids, names, roles) are read for sensitive data only (source other).
    assert sources == {
        "gpt-4o": OTHER,
        "system": OTHER,
        "be brief": OTHER,
        "user": OTHER,
        "hi": USER,
        "tool": OTHER,
        "c1": OTHER,
        "tool says": TOOL_RESULT,
    }
    kinds = {text.text: text.kind for text in request.texts if not text.is_key}
    assert (kinds["be brief"], kinds["hi"], kinds["tool says"], kinds["c1"]) == (
        "system",
        "message",
        "tool_result",
        FIELD,
    )
    keys = [text.text for text in request.texts if text.is_key]
    assert keys == [
        "model",
        "messages",
        "role",
        "content",
        "role",
        "content",
        "role",
        "tool_call_id",
        "content",
    ]
    assert all(text.kind == KEYS and text.source == OTHER for text in request.texts if text.is_key)


def test_an_anthropic_call_under_a_path_prefix() -> None:
    request = inspect(
        "/anthropic/v1/messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert request.provider == "anthropic.messages"


def test_an_mcp_tool_call_exposes_its_argument_strings() -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "send", "arguments": {"to": "a@b.co", "n": 2}},
    }
    request = inspect("/mcp", body, {"mcp-session-id": "s1"})
    assert request.protocol == "mcp"
    assert request.action["tool"] == "send" and request.action["session_id"] == "s1"
    values = [(t.path, t.text) for t in request.texts if not t.is_key]
    assert values == [
        (("jsonrpc",), "2.0"),
        (("method",), "tools/call"),
        (("params", "name"), "send"),
        (("params", "arguments", "to"), "a@b.co"),
    ]
    assert [t.text for t in request.texts if t.is_key] == [
        "jsonrpc",
        "id",
        "method",
        "params",
        "name",
        "arguments",
        "to",
        "n",
    ]


def test_an_a2a_message_is_user_input() -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": "m",
                "role": "user",
                "parts": [{"kind": "text", "text": "hello"}],
            }
        },
    }
    request = inspect("/a2a", body)
    assert request.protocol == "a2a" and request.action["method"] == "message/send"
    values = [(t.text, t.source, t.kind) for t in request.texts if not t.is_key]
    assert ("hello", USER, "message") in values
    assert ("m", OTHER, FIELD) in values and ("message/send", OTHER, FIELD) in values


def test_plain_json_is_scanned_string_by_string() -> None:
    request = inspect("/api/orders", {"note": "call me", "items": [{"sku": "x"}]})
    assert request.protocol is None and request.action is None
    assert {t.path: t.text for t in request.texts if not t.is_key} == {
        ("note",): "call me",
        ("items", 0, "sku"): "x",
    }
    assert [t.text for t in request.texts if t.is_key] == ["note", "items", "sku"]


def test_a_text_body_is_one_text() -> None:
    request = inspect_request("POST", "/upload", {"content-type": "text/plain"}, b"free text", "free text")
    assert request.document is None and [t.path for t in request.texts] == [()]


def test_a_binary_body_has_nothing_to_scan() -> None:
    request = inspect_request("POST", "/upload", {"content-type": "image/png"}, b"\x89PNG\r\n\x1a\n\xff")
    assert request.texts == () and request.document is None


def test_a_text_body_under_any_label_is_scanned() -> None:
    request = inspect_request("POST", "/upload", {"content-type": "application/octet-stream"}, b"my text")
    assert [t.text for t in request.texts] == ["my text"]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/v1/chat/completions", b'{"model": ', ErrorCode.BODY_PARSE_ERROR),
        ("/v1/chat/completions", {"model": 5, "messages": []}, ErrorCode.LLM_REQUEST_INVALID),
        (
            "/mcp",
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}},
            ErrorCode.JSONRPC_INVALID,
        ),
    ],
)
def test_malformed_bodies_are_errors_with_stable_codes(path: str, body: object, code: ErrorCode) -> None:
    with pytest.raises(ChaperoneError) as error:
        inspect(path, body)
    assert error.value.code is code


# -- recognized by content, whatever the label -------------------------------------------------

MCP_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "delete_user"}}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ],
)
def test_json_is_json_whatever_its_label(content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    data = orjson.dumps(MCP_CALL)
    request = inspect_request("POST", "/anything", headers, data)
    assert request.protocol == "mcp" and request.action["tool"] == "delete_user"


@pytest.mark.parametrize(
    "data",
    [
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}, "n": NaN}',
        b'  [{"jsonrpc": "2.0", "id": 1, "method": "tools/call",}]',
        b'{"jsonrpc": "2.0", "method": "a", "method": "tools/call", "id": 1}',
    ],
)
def test_a_body_that_starts_like_json_must_be_strict_json(data: bytes) -> None:
    with pytest.raises(ChaperoneError) as error:
        inspect_request("POST", "/anything", {"content-type": "text/plain"}, data)
    assert error.value.http_status == 400


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_json_in_another_encoding_is_refused(encoding: str) -> None:
    data = orjson.dumps(MCP_CALL).decode().encode(encoding)
    with pytest.raises(ChaperoneError) as error:
        inspect_request("POST", "/anything", {}, data)
    assert error.value.code is ErrorCode.UNSUPPORTED_CHARSET and error.value.http_status == 415


def test_every_string_of_a_chat_call_is_a_text_with_its_messages_source() -> None:
    request = inspect(
        "/v1/chat/completions",
        {
            "model": "m",
            "prediction": {"type": "content", "content": "predicted"},
            "metadata": {"k": "meta", "long": "a note in words"},
            "user": "u-1",
            "messages": [
                {
                    "role": "user",
                    "name": "alice",
                    "content": [
                        {"type": "text", "text": "part one"},
                        {"type": "image_url", "image_url": {"url": "https://x.example/?q=leak"}},
                        {"type": "input_text", "text": "unknown part"},
                    ],
                }
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {"properties": {"a": {"description": "param doc", "default": "dflt"}}},
                    },
                }
            ],
        },
    )
    found = {t.text: t for t in request.texts if not t.is_key}
    for text in ("predicted", "meta", "u-1", "param doc", "dflt", "https://x.example/?q=leak"):
        assert text in found
    assert found["alice"].source == OTHER, "a one-token name is read for sensitive data only"
    assert found["unknown part"].source == USER
    # An unknown field is content: scored for injection as a user's would be.
    assert found["predicted"].source == OTHER and found["meta"].source == OTHER  # one token each
    assert found["a note in words"].source == USER
    assert found["param doc"].source == OTHER, "tool definitions are the developer's instructions"
    # The parts of one message are a group: read joined too.
    assert found["part one"].group == found["unknown part"].group == ("messages", 0, "content")


# -- declared protocols ------------------------------------------------------------------------


def declared(protocol: str, path: str, data: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return inspect_request(
        "POST", path, {"content-type": "text/plain", **(headers or {})}, data, declared_as=protocol
    )


def test_a_declared_protocol_reads_the_body_whatever_its_label() -> None:
    request = declared("mcp", "/tools", orjson.dumps(MCP_CALL))
    assert request.protocol == "mcp" and request.declared == "mcp"


@pytest.mark.parametrize(
    ("protocol", "data", "code", "status"),
    [
        ("mcp", b"", ErrorCode.BODY_REQUIRED, 400),
        ("mcp", b"tool please", ErrorCode.BODY_PARSE_ERROR, 400),
        (
            "mcp",
            b'{"id": 1, "method": "tools/call", "params": {"name": "x"}}',
            ErrorCode.JSONRPC_INVALID,
            400,
        ),
        (
            "a2a",
            b'{"jsonrpc": "2.0", "id": 1, "method": "message/send", "id": 2}',
            ErrorCode.BODY_DUPLICATE_KEY,
            400,
        ),
        (
            "a2a",
            b'[{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "t"}}]',
            ErrorCode.JSONRPC_INVALID,
            400,
        ),
        ("openai", b"", ErrorCode.BODY_REQUIRED, 400),
        ("openai", b"[1]", ErrorCode.LLM_REQUEST_INVALID, 400),
        ("anthropic", b"\xff", ErrorCode.BODY_DECODE_ERROR, 400),
    ],
)
def test_a_declared_protocol_refuses_what_is_not_one(
    protocol: str, data: bytes, code: ErrorCode, status: int
) -> None:
    path = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}.get(protocol, "/x")
    with pytest.raises(ChaperoneError) as error:
        declared(protocol, path, data)
    assert (error.value.code, error.value.http_status) == (code, status)


def test_a_declared_charset_other_than_utf8_is_refused() -> None:
    with pytest.raises(ChaperoneError) as error:
        declared("mcp", "/x", orjson.dumps(MCP_CALL), {"content-type": "application/json; charset=latin-1"})
    assert error.value.http_status == 415


def test_an_mcp_batch_is_a_call_each() -> None:
    batch = [MCP_CALL, {**MCP_CALL, "id": 2, "params": {"name": "run", "arguments": {"q": "secret"}}}]
    request = declared("mcp", "/mcp", orjson.dumps(batch))
    assert request.batch and [call.index for call in request.units] == [0, 1]
    assert [call.action["tool"] for call in request.units] == ["delete_user", "run"]
    assert all(t.path[0] == 1 for t in request.units[1].texts)


def test_an_mcp_batch_after_2025_06_18_is_refused() -> None:
    with pytest.raises(ChaperoneError) as error:
        declared("mcp", "/mcp", orjson.dumps([MCP_CALL]), {"mcp-protocol-version": "2025-06-18"})
    assert error.value.code is ErrorCode.JSONRPC_INVALID


def test_a_declared_providers_other_endpoints_are_llm_calls_scanned_whole() -> None:
    request = declared("openai", "/v1/embeddings", b'{"model": "e-1", "input": ["a secret"]}')
    assert request.action == {
        "protocol": "llm",
        "provider": "openai",
        "operation": "embeddings",
        "model": "e-1",
        "stream": False,
    }
    assert "a secret" in [t.text for t in request.texts]
