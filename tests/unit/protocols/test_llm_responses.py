"""Complete (non-streamed) responses: texts with their locations and channels, usage, rewriting,
and the official SDKs reading the rewritten bodies."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols.llm import (
    Provider,
    ToolCall,
    Usage,
    get_at,
    parse_response,
    replace_texts,
    strip_logprobs,
)
from tests.unit.protocols.support import RESPONSES, all_paths, fixture, fixture_json, json_values, shout


def load(provider: Provider) -> dict[str, Any]:
    return fixture_json(RESPONSES[provider])


def test_openai_chat_response() -> None:
    response = parse_response("openai.chat", fixture("openai_chat_response.json"))
    assert response.model == "gpt-4o-mini-2024-07-18"
    assert response.usage == Usage(19, 41, 4)
    assert response.stop_reasons == ("stop", "tool_calls")
    assert [(f.channel, f.kind, f.text) for f in response.texts] == [
        ("choice 0 content", "message", "Write to jane.doe@example.com — café ☕"),
        ("choice 1 tool_call 0 arguments", "tool_arguments", '{"location": "Paris, France"}'),
        ("choice 1 tool_call 1 arguments", "tool_arguments", '{"timezone": "Europe/Paris"}'),
    ]
    assert response.tool_calls[1] == ToolCall("call_Tz2", "get_time", '{"timezone": "Europe/Paris"}')


def test_openai_responses_response() -> None:
    response = parse_response("openai.responses", fixture("openai_responses_response.json"))
    assert response.model == "gpt-4.1-2025-04-14"
    assert response.usage == Usage(37, 11, 0)
    assert response.stop_reasons == ("completed",)
    assert [(f.channel, f.kind) for f in response.texts] == [
        ("output 0 summary 0 text", "reasoning"),
        ("output 1 content 0 text", "message"),
        ("output 2 arguments", "tool_arguments"),
    ]
    assert response.tool_calls == (ToolCall("call_Wx1", "get_weather", '{"location": "Paris, France"}'),)


def test_anthropic_response() -> None:
    response = parse_response("anthropic.messages", fixture("anthropic_response.json"))
    assert response.model == "claude-haiku-4-5-20251001"
    assert response.usage == Usage(610, 89, 128)
    assert response.stop_reasons == ("tool_use",)
    assert [(f.channel, f.kind, f.json_value) for f in response.texts] == [
        ("block 0", "reasoning", False),
        ("block 1", "message", False),
        ("block 2", "tool_arguments", True),
    ]
    assert response.tool_calls == (
        ToolCall("toolu_01A09q90qw", "get_weather", '{"location":"Paris, France","unit":"c"}'),
    )


@pytest.mark.parametrize("provider", list(RESPONSES))
def test_every_text_is_where_its_path_says(provider: Provider) -> None:
    document = load(provider)
    for field in parse_response(provider, document).texts:
        value = get_at(document, field.path)
        assert (orjson.dumps(value).decode() if field.json_value else value) == field.text


def mock_client(body: bytes) -> httpx2.Client:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=body)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def rewritten(provider: Provider) -> bytes:
    document = load(provider)
    fields = parse_response(provider, document).texts
    return orjson.dumps(replace_texts(document, [(field, shout(field.text)) for field in fields]))


def test_openai_sdk_reads_a_rewritten_chat_completion() -> None:
    client = openai.OpenAI(
        api_key="k", base_url="http://llm.test/v1", http_client=mock_client(rewritten("openai.chat"))
    )
    completion = client.chat.completions.create(model="m", messages=[])
    assert completion.choices[0].message.content == "WRITE TO JANE.DOE(AT)EXAMPLE.COM — CAFÉ ☕"
    calls = completion.choices[1].message.tool_calls or []
    assert [c.function.arguments for c in calls] == [  # type: ignore[union-attr]
        '{"LOCATION": "PARIS, FRANCE"}',
        '{"TIMEZONE": "EUROPE/PARIS"}',
    ]


def test_openai_sdk_reads_a_rewritten_response() -> None:
    http = mock_client(rewritten("openai.responses"))
    client = openai.OpenAI(api_key="k", base_url="http://llm.test/v1", http_client=http)
    response = client.responses.create(model="m", input="x")
    assert response.output_text == "HI THERE, MY PHONE IS 555-0100. 😀"


def test_anthropic_sdk_reads_a_rewritten_message() -> None:
    http = mock_client(rewritten("anthropic.messages"))
    client = anthropic.Anthropic(api_key="k", base_url="http://llm.test", http_client=http)
    message = client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[])
    assert message.content[1].text == "MY KEY IS SK-ANT-0123456789ABCDEF. ÜNÏCØDÉ ✓"  # type: ignore[union-attr]
    assert message.content[2].input == {"LOCATION": "PARIS, FRANCE", "UNIT": "C"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("provider", "body", "where"),
    [
        ("openai.chat", b"<html>502 Bad Gateway</html>", "not valid JSON"),
        ("openai.chat", b'{"choices": [{"message": {"content": 1}}]}', "choices[0].message.content"),
        ("openai.chat", b'{"usage": {"prompt_tokens": "5"}}', "usage.prompt_tokens: expected integer"),
        (
            "openai.responses",
            b'{"output": [{"type": "message", "content": [{"type": "output_text"}]}]}',
            "text",
        ),
        (
            "anthropic.messages",
            b'{"content": [{"type": "tool_use", "name": "f", "input": "{}"}]}',
            "content[0].input",
        ),
        ("anthropic.messages", b'"just a string"', "(root): expected object, got string"),
    ],
)
def test_malformed_responses(provider: Provider, body: bytes, where: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_response(provider, body)
    assert error.value.code is ErrorCode.LLM_RESPONSE_INVALID
    assert error.value.http_status == 502
    assert where in error.value.message


@pytest.mark.parametrize("provider", list(RESPONSES))
@given(data=st.data())
def test_any_value_anywhere_parses_or_is_a_coded_error(provider: Provider, data: st.DataObject) -> None:
    document = load(provider)
    path = data.draw(st.sampled_from(all_paths(document)[1:]))
    get_at(document, path[:-1])[path[-1]] = data.draw(json_values)
    try:
        parse_response(provider, document)
    except ChaperoneError as error:
        assert error.code is ErrorCode.LLM_RESPONSE_INVALID


def test_reasoning_of_compatible_chat_servers() -> None:
    body = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "4", "reasoning_content": "2+2"}}
        ]
    }
    response = parse_response("openai.chat", body)
    assert [(f.channel, f.kind, f.text) for f in response.texts] == [
        ("choice 0 content", "message", "4"),
        ("choice 0 reasoning_content", "reasoning", "2+2"),
    ]


def test_strip_logprobs() -> None:
    chat = {"choices": [{"index": 0, "message": {"content": "x"}, "logprobs": {"content": [{"token": "x"}]}}]}
    assert strip_logprobs("openai.chat", chat) == {
        "choices": [{"index": 0, "message": {"content": "x"}, "logprobs": None}]
    }
    assert chat["choices"][0]["logprobs"] == {"content": [{"token": "x"}]}
    part = {"type": "output_text", "text": "x", "logprobs": [{"token": "x", "logprob": -0.1}]}
    responses = {"output": [{"type": "reasoning", "summary": []}, {"type": "message", "content": [part]}]}
    stripped = strip_logprobs("openai.responses", responses)
    assert stripped["output"][1]["content"][0] == {"type": "output_text", "text": "x", "logprobs": []}
    assert stripped["output"][0] is responses["output"][0]
    for provider in RESPONSES:
        document = load(provider)
        assert strip_logprobs(provider, document) is document
