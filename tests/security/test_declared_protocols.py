"""Attack: traffic that describes itself as something else, through real Envoy.

On a route that declares what it speaks, a body is read as that protocol whatever its label says,
and refused when it is not one; on an undeclared route, JSON is JSON whatever its label. Each
refused request must never reach the upstream, which here is as lenient as real ones are.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import orjson
import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp_server import call_tool
from tests.security.conftest import Declared

pytestmark = pytest.mark.envoy

DELETE_USER = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "delete_user", "arguments": {}},
}
RUN_QUERY = {
    "jsonrpc": "2.0",
    "id": 8,
    "method": "tools/call",
    "params": {"name": "run_query", "arguments": {"sql": "x"}},
}

# Labels an attacker picks so that a proxy reading only JSON-labelled bodies looks away.
LABELS: list[list[tuple[str, str]]] = [
    [("content-type", "application/octet-stream")],
    [("content-type", "text/plain")],
    [("content-type", "application/x-www-form-urlencoded")],
    [("content-type", "multipart/form-data; boundary=x")],
    [],
    [("content-type", "application/jsonx")],
]
CONFLICTING: list[list[tuple[str, str]]] = [
    [("content-type", "application/json, text/plain")],
    [("content-type", "application/json"), ("content-type", "application/json")],
]


def post(
    stack: Declared, listener: str, path: str, body: bytes, headers: list[tuple[str, str]]
) -> httpx.Response:
    return httpx.post(stack.url(listener) + path, content=body, headers=httpx.Headers(headers), timeout=15)


def tool_calls_received(stack: Declared, mark: int, tool: str) -> list[Any]:
    found = []
    for item in stack.recorder.since(mark):
        try:
            document = item.json()
        except ValueError:
            continue
        calls = document if isinstance(document, list) else [document]
        found += [c for c in calls if isinstance(c, dict) and (c.get("params") or {}).get("name") == tool]
    return found


@pytest.mark.parametrize("listener", ["mcp", "open"])
@pytest.mark.parametrize("labels", LABELS, ids=lambda h: h[0][1] if h else "no content-type")
def test_a_forbidden_tool_under_any_label_is_refused(declared: Declared, listener: str, labels: Any) -> None:
    mark = declared.recorder.mark()
    response = post(declared, listener, "/mcp", orjson.dumps(DELETE_USER), labels)
    error = response.json()["error"]
    assert "delete_user" in error["message"] and error["code"] == -32019
    assert tool_calls_received(declared, mark, "delete_user") == []


@pytest.mark.parametrize("labels", LABELS, ids=lambda h: h[0][1] if h else "no content-type")
def test_a_pinned_argument_is_pinned_under_any_label(declared: Declared, labels: Any) -> None:
    mark = declared.recorder.mark()
    response = post(declared, "mcp", "/mcp", orjson.dumps(RUN_QUERY), labels)
    assert response.status_code == 200, response.text
    (call,) = tool_calls_received(declared, mark, "run_query")
    assert call["params"]["arguments"] == {"sql": "x", "dry_run": True}
    # What went upstream is the canonical JSON of what was judged, labelled as such.
    (received,) = declared.recorder.since(mark)
    assert received.headers["Content-Type"] == "application/json"
    assert received.body == orjson.dumps(received.json())


@pytest.mark.parametrize("labels", CONFLICTING, ids=["list", "twice"])
def test_conflicting_labels_are_refused(declared: Declared, labels: Any) -> None:
    mark = declared.recorder.mark()
    response = post(declared, "mcp", "/mcp", orjson.dumps(RUN_QUERY), labels)
    assert response.status_code == 415
    assert response.json()["error"]["data"]["code"] == "content_type_conflict"
    assert declared.recorder.since(mark) == []


@pytest.mark.parametrize(
    ("listener", "path", "body", "status", "code"),
    [
        ("openai", "/v1/chat/completions", b"", 400, "body_required"),
        ("anthropic", "/v1/messages", b"", 400, "body_required"),
        ("mcp", "/mcp", b"", 400, "body_required"),
        ("mcp", "/mcp", b"call delete_user please", 400, "body_parse_error"),
        (
            "mcp",
            "/mcp",
            b'{"id": 1, "method": "tools/call", "params": {"name": "run_query"}}',
            400,
            "jsonrpc_invalid",
        ),
        (
            "mcp",
            "/mcp",
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", '
            b'"params": {"name": "delete_user", "name": "get_customer"}}',
            400,
            "body_duplicate_key",
        ),
        (
            "a2a",
            "/a2a",
            b'{"jsonrpc": "2.0", "id": 1, "method": "tasks/cancel", "method": "tasks/get", '
            b'"params": {"id": "t"}}',
            400,
            "body_duplicate_key",
        ),
        (
            "openai",
            "/v1/chat/completions",
            b'{"model": "gpt-4o", "model": "gpt-5-ultra", "messages": []}',
            400,
            "body_duplicate_key",
        ),
        (
            "mcp",
            "/mcp",
            '{"jsonrpc": "2.0", "id": 1, "method": "ping"}'.encode("utf-16"),
            415,
            "unsupported_charset",
        ),
        (
            "open",
            "/mcp",
            '{"jsonrpc": "2.0", "id": 1, "method": "ping"}'.encode("utf-16"),
            415,
            "unsupported_charset",
        ),
        (
            "open",
            "/mcp",
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}, "n": NaN}',
            400,
            "body_parse_error",
        ),
    ],
)
def test_a_body_that_is_not_what_the_route_speaks_is_refused(
    declared: Declared, listener: str, path: str, body: bytes, status: int, code: str
) -> None:
    mark = declared.recorder.mark()
    response = post(declared, listener, path, body, [("content-type", "text/plain")])
    assert response.status_code == status, response.text
    document = response.json()
    if listener == "open":  # nothing says what it is: Chaperone's own error
        assert document["error"]["code"] == code
    elif listener in ("mcp", "a2a"):
        error = document["error"]
        assert document["jsonrpc"] == "2.0" and document["id"] is None  # JSON-RPC's own shape
        assert error["data"]["code"] == code
    elif listener == "anthropic":
        assert document["type"] == "error" and document["error"]["code"] == code
    else:
        assert document["error"]["type"] == "invalid_request_error" and document["error"]["code"] == code
    assert declared.recorder.since(mark) == [], "nothing reached the upstream"


def test_a_charset_other_than_utf8_is_refused(declared: Declared) -> None:
    mark = declared.recorder.mark()
    response = post(
        declared,
        "mcp",
        "/mcp",
        orjson.dumps(RUN_QUERY),
        [("content-type", "application/json; charset=latin-1")],
    )
    assert response.status_code == 415
    assert declared.recorder.since(mark) == []


def test_the_openai_sdk_is_refused_in_its_own_error_whatever_the_label(declared: Declared) -> None:
    client = openai.OpenAI(base_url=declared.url("openai") + "/v1", api_key="unused", max_retries=0)
    mark = declared.recorder.mark()
    with pytest.raises(openai.PermissionDeniedError) as error:
        client.chat.completions.create(
            model="gpt-5-ultra",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"Content-Type": "text/plain"},
        )
    assert "gpt-5-ultra" in str(error.value)
    assert declared.recorder.since(mark) == []


def test_integers_of_any_size_reach_the_upstream_exactly(declared: Declared) -> None:
    big = 123456789012345678901234567890
    body = (
        b'{"jsonrpc": "2.0", "id": 9, "method": "tools/call", '
        b'"params": {"name": "get_customer", "arguments": {"id": %d}}}' % big
    )
    mark = declared.recorder.mark()
    response = post(declared, "mcp", "/mcp", body, [("content-type", "application/json")])
    assert response.status_code == 200, response.text
    (received,) = declared.recorder.since(mark)
    assert json.loads(received.body)["params"]["arguments"]["id"] == big
    assert b"%d" % big in received.body


async def test_the_mcp_sdk_is_decided_as_any_other_client(declared: Declared) -> None:
    """The real MCP client through a route declared `mcp`: refused in place, pinned where allowed."""
    mark = declared.recorder.mark()
    refused = await call_tool(declared.url("mcp") + "/mcp", "delete_user", {"user_id": "u-1"})
    assert isinstance(refused, MCPError) and "delete_user" in refused.error.message
    pinned = await call_tool(declared.url("mcp") + "/mcp", "run_query", {"sql": "select 1"})
    assert not isinstance(pinned, MCPError), pinned
    assert tool_calls_received(declared, mark, "delete_user") == []
    (call,) = tool_calls_received(declared, mark, "run_query")
    assert call["params"]["arguments"] == {"sql": "select 1", "dry_run": True}
