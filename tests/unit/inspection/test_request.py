"""Recognizing request bodies: protocol, action, and the texts scanners read with their source."""

from __future__ import annotations

import orjson
import pytest

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.request import OTHER, TOOL_RESULT, USER, inspect_request

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
    sources = {text.text: text.source for text in request.texts}
    assert sources == {"be brief": OTHER, "hi": USER, "tool says": TOOL_RESULT}


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
    assert [(t.path, t.text) for t in request.texts] == [(("params", "arguments", "to"), "a@b.co")]


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
    assert [(t.text, t.source) for t in request.texts] == [("hello", USER)]


def test_plain_json_is_scanned_string_by_string() -> None:
    request = inspect("/api/orders", {"note": "call me", "items": [{"sku": "x"}]})
    assert request.protocol is None and request.action is None
    assert {t.path: t.text for t in request.texts} == {("note",): "call me", ("items", 0, "sku"): "x"}


def test_a_text_body_is_one_text() -> None:
    request = inspect_request("POST", "/upload", {"content-type": "text/plain"}, b"free text", "free text")
    assert request.document is None and [t.path for t in request.texts] == [()]


def test_a_binary_body_has_nothing_to_scan() -> None:
    request = inspect_request(
        "POST", "/upload", {"content-type": "application/octet-stream"}, b"\x00", "\x00"
    )
    assert request.texts == ()


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
