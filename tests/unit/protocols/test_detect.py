"""Protocol detection: MCP and A2A by body and headers, hooks for the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ext_proc.protocols.detect import detect
from tests.unit.protocols.helpers import fixture

MCP_ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def rpc(method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


@pytest.mark.parametrize(
    "name",
    [
        "mcp/initialize_request.json",
        "mcp/initialized_notification.json",
        "mcp/tools_list_request.json",
        "mcp/tools_call_request.json",
        "mcp/tools_call_request_2026.json",
        "mcp/resources_read_request.json",
        "mcp/prompts_get_request.json",
        "mcp/ping_request.json",
        "mcp/batch_request.json",
    ],
)
def test_mcp_bodies_without_any_header(name: str) -> None:
    assert detect("POST", "/mcp", {}, fixture(name)) == "mcp"


@pytest.mark.parametrize(
    "name",
    [
        "a2a/v0_3/message_send_request.json",
        "a2a/v0_3/message_stream_request.json",
        "a2a/v0_3/push_config_set_request.json",
        "a2a/v0_3/tasks_get_request.json",
        "a2a/v0_3/tasks_cancel_request.json",
        "a2a/v1_0/send_message_request.json",
        "a2a/v1_0/get_task_request.json",
        "a2a/v1_0/list_tasks_request.json",
        "a2a/v1_0/create_push_config_request.json",
    ],
)
def test_a2a_bodies_without_any_header(name: str) -> None:
    assert detect("POST", "/", {}, fixture(name)) == "a2a"


def test_a_method_both_protocols_have_is_told_apart_by_its_params() -> None:
    assert detect("POST", "/", {}, rpc("tasks/get", {"taskId": "t-1"})) == "mcp"  # MCP 2025-11-25 tasks
    assert detect("POST", "/", {}, rpc("tasks/get", {"id": "t-1"})) == "a2a"
    assert detect("POST", "/", {"Mcp-Session-Id": "s"}, rpc("tasks/cancel", {"id": "t-1"})) == "mcp"
    assert detect("POST", "/", {"A2A-Version": "1.0"}, rpc("tasks/cancel", {"taskId": "t-1"})) == "a2a"


def test_the_body_wins_over_the_headers() -> None:
    assert (
        detect("POST", "/", {"mcp-session-id": "s"}, fixture("a2a/v1_0/send_message_request.json")) == "a2a"
    )
    assert detect("POST", "/", {"a2a-version": "1.0"}, fixture("mcp/tools_call_request.json")) == "mcp"


def test_a_batch_mixing_both_counts_as_mcp() -> None:
    body = [fixture("a2a/v0_3/message_send_request.json"), fixture("mcp/tools_list_request.json")]
    assert detect("POST", "/", {}, body) == "mcp"


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {"mcp-session-id": "s", "accept": "text/event-stream"}),  # the server's stream
        ("DELETE", {"mcp-session-id": "s"}),  # the end of a session
        ("POST", {"mcp-protocol-version": "2025-06-18"}),
        ("POST", {"MCP-Method": "tools/call"}),
    ],
)
def test_mcp_headers_alone(method: str, headers: dict[str, str]) -> None:
    assert detect(method, "/mcp", headers, None) == "mcp"


def test_a2a_version_header_alone() -> None:
    assert detect("POST", "/", {"a2a-version": "1.0"}, None) == "a2a"


def test_client_responses_and_unknown_methods_go_by_headers() -> None:
    response = fixture("mcp/sampling_client_response.json")
    assert detect("POST", "/mcp", {"mcp-session-id": "s"}, response) == "mcp"
    assert detect("POST", "/mcp", {}, response) is None
    assert detect("POST", "/mcp", {"mcp-session-id": "s"}, rpc("x-vendor/op")) == "mcp"


def test_an_unknown_jsonrpc_post_that_accepts_what_mcp_clients_accept() -> None:
    assert detect("POST", "/mcp", MCP_ACCEPT, rpc("x-vendor/op")) == "mcp"
    assert detect("POST", "/mcp", {"accept": "Application/JSON;q=0.9 , text/event-stream"}, rpc("x")) == "mcp"
    assert detect("POST", "/mcp", {"accept": "application/json"}, rpc("x-vendor/op")) is None
    assert detect("GET", "/mcp", MCP_ACCEPT, rpc("x-vendor/op")) is None
    assert detect("POST", "/mcp", MCP_ACCEPT, {"model": "m"}) is None


def test_hooks_name_other_protocols_in_order() -> None:
    calls: list[tuple[str, str, Mapping[str, str], object]] = []

    def llm(method: str, path: str, headers: Mapping[str, str], body: object) -> bool:
        calls.append((method, path, headers, body))
        return path == "/v1/chat/completions"

    def never(method: str, path: str, headers: Mapping[str, str], body: object) -> bool:
        raise AssertionError("not reached")

    body = {"model": "gpt-4o", "messages": []}
    assert detect("POST", "/v1/chat/completions", {}, body, hooks=[("llm", llm), ("other", never)]) == "llm"
    assert calls == [("POST", "/v1/chat/completions", {}, body)]
    assert detect("POST", "/other", {}, body, hooks=[("llm", llm)]) is None


def test_protocol_rules_come_before_hooks() -> None:
    def everything(method: str, path: str, headers: Mapping[str, str], body: object) -> bool:
        return True

    assert detect("POST", "/", {}, fixture("mcp/ping_request.json"), hooks=[("llm", everything)]) == "mcp"
    assert detect("POST", "/", {}, None, hooks=[("llm", everything)]) == "llm"


@pytest.mark.parametrize(
    "body", [None, {}, [], "text", 5, {"jsonrpc": "1.0", "method": "tools/call"}, [1, 2]]
)
def test_nothing_recognisable(body: object) -> None:
    assert detect("POST", "/", {"content-type": "application/json"}, body) is None
