"""The demo upstream speaks the providers' wire formats: the official SDKs parse its answers.

This is what makes the end-to-end tests with real SDK clients meaningful: the streams Chaperone
inspects are the ones the SDKs accept.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from ext_proc.demo.upstream import create_app
from tests.harness import UpstreamServer

TOOL = '{"city": "Paris", "unit": "c"}'


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = UpstreamServer(create_app()).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def openai_client(base_url: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", default_headers=headers, max_retries=0)


def anthropic_client(base_url: str, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", default_headers=headers, max_retries=0
    )


def test_openai_chat_json_and_stream(base_url: str) -> None:
    client = openai_client(base_url, **{"x-demo-delay-ms": "0"})
    messages = [{"role": "user", "content": "hi there"}]
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    assert (
        completion.choices[0].message.content
        == "Hello from the demo upstream (gpt-4o-mini). You said: hi there"
    )
    assert completion.usage is not None and completion.usage.total_tokens > 0
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content
    assert chunks[-1].usage is not None


def test_openai_chat_tool_call_stream(base_url: str) -> None:
    client = openai_client(base_url, **{"x-demo-delay-ms": "0", "x-demo-tool-call": f"get_weather {TOOL}"})
    with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "weather?"}]
    ) as stream:  # type: ignore[arg-type]
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.function.name, call.function.arguments) == ("get_weather", TOOL)  # type: ignore[union-attr]


def test_openai_responses_json_and_stream(base_url: str) -> None:
    client = openai_client(base_url, **{"x-demo-delay-ms": "0", "x-demo-reply": "The answer is 42."})
    response = client.responses.create(model="gpt-4o", input="question")
    assert response.output_text == "The answer is 42."
    with client.responses.stream(model="gpt-4o", input="question") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "The answer is 42." == final.output_text


def test_anthropic_json_and_stream(base_url: str) -> None:
    client = anthropic_client(base_url, **{"x-demo-delay-ms": "0"})
    messages = [{"role": "user", "content": "bonjour"}]
    message = client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages)  # type: ignore[arg-type]
    assert message.content[0].text.endswith("You said: bonjour")  # type: ignore[union-attr]
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=messages) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == message.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0


def test_anthropic_tool_use_stream(base_url: str) -> None:
    client = anthropic_client(base_url, **{"x-demo-delay-ms": "0", "x-demo-tool-call": f"get_weather {TOOL}"})
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "weather?"}],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_message()
    tool = final.content[-1]
    assert tool.type == "tool_use" and tool.input == {"city": "Paris", "unit": "c"}  # type: ignore[union-attr]
