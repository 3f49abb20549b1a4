"""Request rewrites a policy asks for: model, max tokens, tool removal with a consistent tool_choice."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ext_proc.protocols.llm import (
    Provider,
    ToolChoice,
    cap_max_tokens,
    parse_request,
    pin_model,
    remove_tools,
)
from tests.unit.protocols.support import REQUESTS, fixture_json


def load(provider: Provider) -> dict[str, Any]:
    return fixture_json(REQUESTS[provider])


@pytest.mark.parametrize("provider", list(REQUESTS))
def test_pin_model(provider: Provider) -> None:
    document = load(provider)
    pinned = pin_model(document, "approved-model")
    assert parse_request(provider, pinned).model == "approved-model"
    assert document == load(provider)
    assert pin_model(pinned, "approved-model") is pinned


@pytest.mark.parametrize(
    ("provider", "body", "limit", "expected"),
    [
        ("openai.chat", {"max_completion_tokens": 512}, 256, {"max_completion_tokens": 256}),
        ("openai.chat", {"max_tokens": 512}, 256, {"max_tokens": 256}),
        (
            "openai.chat",
            {"max_tokens": 512, "max_completion_tokens": 100},
            256,
            {"max_tokens": 256, "max_completion_tokens": 100},
        ),
        ("openai.chat", {"max_tokens": None}, 64, {"max_tokens": None, "max_completion_tokens": 64}),
        ("openai.chat", {}, 64, {"max_completion_tokens": 64}),
        ("openai.chat", {"max_completion_tokens": "lots"}, 64, {"max_completion_tokens": 64}),
        ("openai.responses", {"max_output_tokens": 9000}, 1000, {"max_output_tokens": 1000}),
        ("openai.responses", {}, 1000, {"max_output_tokens": 1000}),
        ("anthropic.messages", {"max_tokens": 8192}, 1024, {"max_tokens": 1024}),
    ],
)
def test_cap_max_tokens(
    provider: Provider, body: dict[str, Any], limit: int, expected: dict[str, Any]
) -> None:
    capped = cap_max_tokens(provider, {"model": "m", **body}, limit)
    assert capped == {"model": "m", **expected}
    max_tokens = parse_request(provider, capped).max_tokens
    assert max_tokens is not None
    assert max_tokens <= limit


@pytest.mark.parametrize("provider", list(REQUESTS))
def test_a_cap_above_the_request_changes_nothing(provider: Provider) -> None:
    document = load(provider)
    assert cap_max_tokens(provider, document, 100_000) is document
    capped = cap_max_tokens(provider, document, 100)
    assert parse_request(provider, capped).max_tokens == 100


def tool_names(provider: Provider, document: dict[str, Any]) -> list[str]:
    return [tool.name for tool in parse_request(provider, document).tools]


def consistent(provider: Provider, document: dict[str, Any]) -> None:
    """What the APIs require: a named choice names an offered tool; no choice without tools."""
    request = parse_request(provider, document)
    names = {tool.name for tool in request.tools}
    if request.tool_choice is not None:
        assert names
        assert request.tool_choice.name is None or request.tool_choice.name in names
    assert document.get("tools") != []
    if not names:
        assert "parallel_tool_calls" not in document or provider != "openai.chat"


def test_chat_removing_the_forced_tool_drops_the_choice() -> None:
    document = load("openai.chat")
    out = remove_tools("openai.chat", document, ["get_weather"])
    assert tool_names("openai.chat", out) == ["get_time", "run_sql"]
    assert "tool_choice" not in out
    assert out["parallel_tool_calls"] is True
    consistent("openai.chat", out)
    assert document == load("openai.chat")


def test_chat_removing_another_tool_keeps_the_choice() -> None:
    out = remove_tools("openai.chat", load("openai.chat"), ["run_sql", "not_there"])
    assert tool_names("openai.chat", out) == ["get_weather", "get_time"]
    assert parse_request("openai.chat", out).tool_choice == ToolChoice("tool", "get_weather")


def test_chat_removing_every_tool_removes_every_tool_field() -> None:
    out = remove_tools("openai.chat", load("openai.chat"), ["get_weather", "get_time", "run_sql"])
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(out)
    consistent("openai.chat", out)
    # The history keeps its tool calls and results: only the offer of new calls goes.
    assert len(parse_request("openai.chat", out).tool_calls) == 2


def test_chat_allowed_tools_lose_the_removed_ones() -> None:
    document = load("openai.chat")
    allowed = [{"type": "function", "function": {"name": n}} for n in ("get_weather", "get_time")]
    document["tool_choice"] = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": allowed},
    }
    out = remove_tools("openai.chat", document, ["get_weather"])
    assert out["tool_choice"]["allowed_tools"]["tools"] == allowed[1:]
    assert document["tool_choice"]["allowed_tools"]["tools"] == allowed
    out = remove_tools("openai.chat", out, ["get_time"])
    assert "tool_choice" not in out
    consistent("openai.chat", out)


def test_chat_legacy_functions() -> None:
    document = {
        "messages": [],
        "functions": [{"name": "a"}, {"name": "b"}],
        "function_call": {"name": "a"},
    }
    out = remove_tools("openai.chat", document, ["a"])
    assert out == {"messages": [], "functions": [{"name": "b"}]}
    assert remove_tools("openai.chat", out, ["b"]) == {"messages": []}


def test_responses_tools() -> None:
    document = load("openai.responses")
    out = remove_tools("openai.responses", document, ["get_weather"])
    assert tool_names("openai.responses", out) == ["get_time", "web_search", "mcp"]
    assert out["tool_choice"] == {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "web_search"}],
    }
    consistent("openai.responses", out)
    out = remove_tools("openai.responses", out, ["web_search", "mcp"])
    assert tool_names("openai.responses", out) == ["get_time"]
    assert "tool_choice" not in out
    consistent("openai.responses", out)
    assert "tools" not in remove_tools("openai.responses", out, ["get_time"])


@pytest.mark.parametrize(
    ("choice", "removed", "expected"),
    [
        ({"type": "function", "name": "get_weather"}, ["get_weather"], None),
        (
            {"type": "function", "name": "get_weather"},
            ["get_time"],
            {"type": "function", "name": "get_weather"},
        ),
        ({"type": "web_search"}, ["web_search"], None),
        ({"type": "mcp", "server_label": "deepwiki"}, ["mcp"], None),
        ("required", ["get_weather"], "required"),
    ],
)
def test_responses_forced_choices(choice: Any, removed: list[str], expected: Any) -> None:
    document = {**load("openai.responses"), "tool_choice": choice}
    out = remove_tools("openai.responses", document, removed)
    assert out.get("tool_choice") == expected
    consistent("openai.responses", out)


def test_anthropic_forced_tool_becomes_auto() -> None:
    out = remove_tools("anthropic.messages", load("anthropic.messages"), ["get_weather"])
    assert tool_names("anthropic.messages", out) == ["get_time", "web_search"]
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    consistent("anthropic.messages", out)
    out = remove_tools("anthropic.messages", out, ["get_time", "web_search"])
    assert "tools" not in out
    assert "tool_choice" not in out


@pytest.mark.parametrize("provider", list(REQUESTS))
def test_removing_nothing_returns_the_same_document(provider: Provider) -> None:
    document = load(provider)
    before = copy.deepcopy(document)
    assert remove_tools(provider, document, ["no_such_tool"]) is document
    assert remove_tools(provider, {"messages": []}, ["x"]) == {"messages": []}
    assert document == before
