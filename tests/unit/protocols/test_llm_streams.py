"""Streamed responses: what the interpreters see in each provider's stream, and what the
official SDKs make of the rewritten bytes (openai-python and anthropic-python, in process)."""

from __future__ import annotations

import json
from collections import defaultdict

import anthropic
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols.llm import Provider, StreamEventView, Usage, get_at, stream_interpreter
from ext_proc.protocols.sse import SseEvent, SseParser
from tests.fixtures.llm import generate as g
from tests.unit.protocols.support import (
    Relay,
    all_paths,
    anthropic_client,
    fixture,
    json_values,
    openai_client,
    shout,
)

STREAMS: list[tuple[str, Provider]] = [
    ("openai_chat_text.sse", "openai.chat"),
    ("openai_chat_two_choices.sse", "openai.chat"),
    ("openai_chat_parallel_tools.sse", "openai.chat"),
    ("openai_responses_text.sse", "openai.responses"),
    ("openai_responses_tools.sse", "openai.responses"),
    ("anthropic_text.sse", "anthropic.messages"),
    ("anthropic_tools.sse", "anthropic.messages"),
]

# The text each channel of each stream carries, as the generator built it.
EXPECTED_CHANNELS: dict[str, dict[str, str]] = {
    "openai_chat_text.sse": {"choice 0 content": "".join(g.CHAT_TEXT)},
    "openai_chat_two_choices.sse": {
        "choice 0 content": "".join(g.CHAT_TEXT),
        "choice 1 content": "".join(g.CHAT_SECOND),
    },
    "openai_chat_parallel_tools.sse": {
        "choice 0 tool_call 0 arguments": "".join(g.WEATHER_ARGS),
        "choice 0 tool_call 1 arguments": "".join(g.TIME_ARGS),
    },
    "openai_responses_text.sse": {"output 0 content 0 text": "".join(g.RESPONSES_TEXT)},
    "openai_responses_tools.sse": {
        "output 0 summary 0 text": "".join(g.THINKING),
        "output 1 arguments": "".join(g.WEATHER_ARGS),
        "output 2 arguments": "".join(g.TIME_ARGS),
    },
    "anthropic_text.sse": {"block 0": "".join(g.ANTHROPIC_TEXT)},
    "anthropic_tools.sse": {
        "block 0": "".join(g.THINKING),
        "block 1": "Let me check both.",
        "block 2": "".join(g.WEATHER_ARGS),
        "block 3": "".join(g.TIME_ARGS),
    },
}


def interpret(name: str, provider: Provider) -> list[StreamEventView]:
    interpreter = stream_interpreter(provider)
    return [interpreter.interpret(event) for event in SseParser().feed(fixture(name))]


@pytest.mark.parametrize(("name", "provider"), STREAMS)
def test_deltas_rebuild_every_channel_and_complete_texts_agree(name: str, provider: Provider) -> None:
    views = interpret(name, provider)
    deltas: dict[str, str] = defaultdict(str)
    closed: list[str] = []
    for view in views:
        for piece in view.texts:
            if piece.complete:
                # A repeated text is never ahead of the deltas, and whole once the channel closed.
                assert deltas[piece.channel].startswith(piece.text) or piece.text == ""
                if piece.channel in closed:
                    assert piece.text == deltas[piece.channel]
            else:
                assert piece.channel not in closed
                deltas[piece.channel] += piece.text
        closed.extend(view.closed)
    assert dict(deltas) == EXPECTED_CHANNELS[name]
    assert sorted(closed) == sorted(EXPECTED_CHANNELS[name])
    assert len(closed) == len(set(closed))
    assert views[-1].done
    assert sum(view.done for view in views) == 1


def test_kinds_of_texts() -> None:
    kinds = {
        (p.channel, p.kind) for v in interpret("anthropic_tools.sse", "anthropic.messages") for p in v.texts
    }
    assert kinds == {
        ("block 0", "reasoning"),
        ("block 1", "message"),
        ("block 2", "tool_arguments"),
        ("block 3", "tool_arguments"),
    }
    kinds = {
        (p.channel, p.kind)
        for v in interpret("openai_responses_tools.sse", "openai.responses")
        for p in v.texts
    }
    assert kinds == {
        ("output 0 summary 0 text", "reasoning"),
        ("output 1 arguments", "tool_arguments"),
        ("output 2 arguments", "tool_arguments"),
    }


@pytest.mark.parametrize(
    ("name", "provider", "usage", "model"),
    [
        ("openai_chat_text.sse", "openai.chat", Usage(19, 17, 0), "gpt-4o-mini-2024-07-18"),
        ("openai_responses_text.sse", "openai.responses", Usage(37, 11, 0), "gpt-4.1-2025-04-14"),
        ("anthropic_text.sse", "anthropic.messages", Usage(600, 21, 128), "claude-sonnet-4-5-20250929"),
    ],
)
def test_usage_and_model(name: str, provider: Provider, usage: Usage, model: str) -> None:
    views = interpret(name, provider)
    reported = [view.usage for view in views if view.usage is not None]
    assert reported[-1] == usage
    assert {view.model for view in views if view.model} == {model}


def test_anthropic_usage_is_merged_across_events() -> None:
    views = interpret("anthropic_text.sse", "anthropic.messages")
    reported = [view.usage for view in views if view.usage is not None]
    # message_start: 472 + 128 cache reads + 0 cache writes; message_delta: the output count.
    assert reported == [Usage(600, 2, 128), Usage(600, 21, 128)]


@pytest.mark.parametrize(("name", "provider"), STREAMS)
def test_rewriting_with_the_same_texts_gives_back_the_original_bytes(name: str, provider: Provider) -> None:
    relay = Relay(provider, transform=lambda text: text)
    assert relay.run(fixture(name), chunk_size=23) == fixture(name)
    assert relay.rewritten == 0


@pytest.mark.parametrize(("name", "provider"), STREAMS)
@pytest.mark.parametrize("holdback", [0, 1, 5, 1000])
def test_rewritten_streams_keep_their_meaning(name: str, provider: Provider, holdback: int) -> None:
    """Parse the rewritten bytes again: same events, every channel carries the new text."""
    output = Relay(provider, holdback=holdback).run(fixture(name), chunk_size=29)
    views = interpret_bytes(output, provider)
    deltas: dict[str, str] = defaultdict(str)
    for view in views:
        for piece in view.texts:
            if piece.complete and piece.channel in deltas:
                assert deltas[piece.channel].startswith(piece.text)
            elif not piece.complete:
                deltas[piece.channel] += piece.text
    assert dict(deltas) == {channel: shout(text) for channel, text in EXPECTED_CHANNELS[name].items()}


def interpret_bytes(data: bytes, provider: Provider) -> list[StreamEventView]:
    interpreter = stream_interpreter(provider)
    parser = SseParser()
    views = [interpreter.interpret(event) for event in parser.feed(data)]
    assert parser.close() == b""
    return views


def test_a_rewritten_event_keeps_its_other_fields() -> None:
    interpreter = stream_interpreter("openai.chat")
    events = SseParser().feed(fixture("openai_chat_text.sse"))
    view = interpreter.interpret(events[1])
    changed = interpreter.rewrite(view, ["[redacted]"])
    before, after = json.loads(events[1].data), json.loads(changed.data)
    after["choices"][0]["delta"]["content"] = before["choices"][0]["delta"]["content"]
    assert after == before
    assert changed.raw == b"data: " + changed.data.encode() + b"\n\n"


def test_rewrite_needs_one_text_per_piece() -> None:
    interpreter = stream_interpreter("anthropic.messages")
    events = SseParser().feed(fixture("anthropic_text.sse"))
    views = [interpreter.interpret(event) for event in events]
    with pytest.raises(ValueError, match="expected 1 texts"):
        interpreter.rewrite(views[2], [])


def test_log_probabilities_of_a_changed_text_are_dropped() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"content": "secret"},
                "logprobs": {
                    "content": [{"token": "secret", "logprob": -0.1, "bytes": [115], "top_logprobs": []}]
                },
                "finish_reason": None,
            }
        ],
    }
    interpreter = stream_interpreter("openai.chat")
    view = interpreter.interpret(SseEvent(json.dumps(chunk)))
    assert interpreter.rewrite(view, ["secret"]) is view.event
    choice = json.loads(interpreter.rewrite(view, ["[x]"]).data)["choices"][0]
    assert choice["delta"]["content"] == "[x]"
    assert choice["logprobs"] is None

    delta = {"type": "response.output_text.delta", "sequence_number": 4, "item_id": "m", "output_index": 0}
    delta |= {"content_index": 0, "delta": "secret", "logprobs": [{"token": "secret", "logprob": -0.1}]}
    interpreter = stream_interpreter("openai.responses")
    view = interpreter.interpret(SseEvent(json.dumps(delta), "response.output_text.delta"))
    rewritten = interpreter.rewrite(view, ["[x]"])
    assert json.loads(rewritten.data)["logprobs"] == []
    assert rewritten.event == "response.output_text.delta"


# --- the official SDKs read the rewritten streams -----------------------------------------------


def chat_final(body: bytes) -> openai.types.chat.ChatCompletion:
    client = openai_client(body)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=[]) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()


@pytest.mark.parametrize("holdback", [0, 4])
def test_openai_sdk_reads_rewritten_chat_text(holdback: int) -> None:
    body = Relay("openai.chat", holdback=holdback).run(fixture("openai_chat_text.sse"))
    completion = chat_final(body)
    assert completion.choices[0].message.content == shout("".join(g.CHAT_TEXT))
    assert completion.usage is not None
    assert completion.usage.total_tokens == 36


def test_openai_sdk_reads_rewritten_chat_choices() -> None:
    body = Relay("openai.chat", holdback=3).run(fixture("openai_chat_two_choices.sse"))
    completion = chat_final(body)
    assert [c.message.content for c in completion.choices] == [
        shout("".join(g.CHAT_TEXT)),
        shout("".join(g.CHAT_SECOND)),
    ]


@pytest.mark.parametrize("holdback", [0, 6])
def test_openai_sdk_reads_rewritten_chat_tool_calls(holdback: int) -> None:
    body = Relay("openai.chat", holdback=holdback).run(fixture("openai_chat_parallel_tools.sse"))
    calls = chat_final(body).choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("call_Wx1", "get_weather", shout("".join(g.WEATHER_ARGS))),
        ("call_Tz2", "get_time", shout("".join(g.TIME_ARGS))),
    ]


def responses_run(body: bytes) -> tuple[dict[str, str], openai.types.responses.Response]:
    client = openai_client(body)
    deltas: dict[str, str] = defaultdict(str)
    with client.responses.stream(model="gpt-4.1", input="hi") as stream:
        for event in stream:
            if event.type in ("response.output_text.delta", "response.function_call_arguments.delta"):
                deltas[f"{event.type} {event.output_index}"] += event.delta
            elif event.type == "response.reasoning_summary_text.delta":
                deltas[f"summary {event.output_index}"] += event.delta
        return dict(deltas), stream.get_final_response()


@pytest.mark.parametrize("holdback", [0, 3])
def test_openai_sdk_reads_rewritten_responses_text(holdback: int) -> None:
    body = Relay("openai.responses", holdback=holdback).run(fixture("openai_responses_text.sse"))
    deltas, response = responses_run(body)
    expected = shout("".join(g.RESPONSES_TEXT))
    assert deltas == {"response.output_text.delta 0": expected}
    assert response.output_text == expected
    assert response.usage is not None
    assert response.usage.output_tokens == 11


@pytest.mark.parametrize("holdback", [0, 7])
def test_openai_sdk_reads_rewritten_responses_tool_calls(holdback: int) -> None:
    body = Relay("openai.responses", holdback=holdback).run(fixture("openai_responses_tools.sse"))
    deltas, response = responses_run(body)
    weather, time = shout("".join(g.WEATHER_ARGS)), shout("".join(g.TIME_ARGS))
    assert deltas == {
        "summary 0": shout("".join(g.THINKING)),
        "response.function_call_arguments.delta 1": weather,
        "response.function_call_arguments.delta 2": time,
    }
    calls = [(item.name, item.arguments) for item in response.output if item.type == "function_call"]
    assert calls == [("get_weather", weather), ("get_time", time)]
    summaries = [item.summary[0].text for item in response.output if item.type == "reasoning"]
    assert summaries == [shout("".join(g.THINKING))]


def anthropic_final(body: bytes) -> anthropic.types.Message:
    client = anthropic_client(body)
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=[]) as stream:
        for _ in stream:
            pass
        return stream.get_final_message()


@pytest.mark.parametrize("holdback", [0, 5])
def test_anthropic_sdk_reads_rewritten_text(holdback: int) -> None:
    body = Relay("anthropic.messages", holdback=holdback).run(fixture("anthropic_text.sse"))
    message = anthropic_final(body)
    assert [block.text for block in message.content if block.type == "text"] == [
        shout("".join(g.ANTHROPIC_TEXT))
    ]
    assert message.usage.output_tokens == 21


@pytest.mark.parametrize("holdback", [0, 8])
def test_anthropic_sdk_reads_rewritten_tool_use_and_thinking(holdback: int) -> None:
    body = Relay("anthropic.messages", holdback=holdback).run(fixture("anthropic_tools.sse"))
    blocks = anthropic_final(body).content
    assert [block.type for block in blocks] == ["thinking", "text", "tool_use", "tool_use"]
    assert blocks[0].thinking == shout("".join(g.THINKING))  # type: ignore[union-attr]
    assert blocks[1].text == "LET ME CHECK BOTH."  # type: ignore[union-attr]
    assert blocks[2].input == json.loads(shout("".join(g.WEATHER_ARGS)))  # type: ignore[union-attr]
    assert blocks[3].input == json.loads(shout("".join(g.TIME_ARGS)))  # type: ignore[union-attr]


# --- ending a stream with an error ----------------------------------------------------------------

MESSAGE = "response blocked by policy: it contains a credential"


def cut_with_error(name: str, provider: Provider, events_kept: int) -> bytes:
    interpreter = stream_interpreter(provider)
    events = SseParser().feed(fixture(name))[:events_kept]
    for event in events:
        interpreter.interpret(event)
    return b"".join(e.raw for e in events) + interpreter.error_events(MESSAGE, "chaperone_policy")


def test_openai_sdk_raises_on_the_chat_error_event() -> None:
    body = cut_with_error("openai_chat_text.sse", "openai.chat", 3)
    with pytest.raises(openai.APIError) as error:
        for _ in openai_client(body).chat.completions.create(model="m", messages=[], stream=True):
            pass
    assert error.value.message == MESSAGE
    assert error.value.code == "chaperone_policy"


def test_openai_sdk_raises_on_the_responses_error_event() -> None:
    body = cut_with_error("openai_responses_text.sse", "openai.responses", 6)
    with (
        pytest.raises(openai.APIError) as error,
        openai_client(body).responses.stream(model="m", input="x") as stream,
    ):
        for _ in stream:
            pass
    assert error.value.message == MESSAGE
    # The event is still the documented error event for clients that read it themselves.
    data = json.loads(body.rsplit(b"data: ", 1)[1])
    assert (data["type"], data["code"], data["message"], data["sequence_number"]) == (
        "error",
        "chaperone_policy",
        MESSAGE,
        6,
    )


def test_anthropic_sdk_raises_on_the_error_event() -> None:
    body = cut_with_error("anthropic_text.sse", "anthropic.messages", 4)
    with pytest.raises(anthropic.APIStatusError) as error:
        anthropic_final(body)
    assert MESSAGE in str(error.value)
    assert error.value.body["error"]["code"] == "chaperone_policy"  # type: ignore[index]


@pytest.mark.parametrize("provider", ["openai.chat", "openai.responses", "anthropic.messages"])
def test_error_events_are_seen_as_errors_by_the_interpreter(provider: Provider) -> None:
    interpreter = stream_interpreter(provider)
    events = SseParser().feed(interpreter.error_events(MESSAGE, "chaperone_policy"))
    view = stream_interpreter(provider).interpret(events[0])
    assert view.error is not None
    assert view.error.message == MESSAGE


def test_provider_errors_inside_streams() -> None:
    chat = stream_interpreter("openai.chat").interpret(
        SseEvent('{"error": {"message": "overloaded", "type": "server_error", "code": null}}')
    )
    assert (chat.error, chat.texts) == (chat.error, ())
    assert chat.error is not None
    assert (chat.error.message, chat.error.type) == ("overloaded", "server_error")
    failed = {"type": "response.failed", "sequence_number": 3}
    failed["response"] = {
        "id": "r",
        "status": "failed",
        "output": [],
        "error": {"code": "server_error", "message": "x"},
    }
    view = stream_interpreter("openai.responses").interpret(SseEvent(json.dumps(failed), "response.failed"))
    assert view.done
    assert view.error is not None
    assert (view.error.code, view.error.message) == ("server_error", "x")


# --- malformed streams ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai.chat", "openai.responses", "anthropic.messages"])
@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[1, 2]",
        '{"choices": {"index": 0}}',
        '{"type": "content_block_delta", "index": "0", "delta": {"type": "text_delta", "text": "x"}}',
        '{"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": 5}',
        '{"type": "response.completed", "response": []}',
    ],
)
def test_malformed_events_are_coded_errors(provider: Provider, data: str) -> None:
    interpreter = stream_interpreter(provider)
    try:
        interpreter.interpret(SseEvent(data))
    except ChaperoneError as error:
        assert error.code is ErrorCode.LLM_RESPONSE_INVALID
        assert error.http_status == 502


def test_each_malformed_event_is_refused_by_its_provider() -> None:
    cases: list[tuple[Provider, str]] = [
        ("openai.chat", '{"choices": {"index": 0}}'),
        ("openai.chat", '{"choices": [{"index": 0, "delta": {"content": 5}}]}'),
        ("anthropic.messages", '{"type": "content_block_delta", "index": "0", "delta": {}}'),
        ("openai.responses", '{"type": "response.output_text.delta", "delta": 5}'),
        ("openai.responses", '{"type": "response.completed", "response": []}'),
    ]
    for provider, data in cases:
        with pytest.raises(ChaperoneError) as error:
            stream_interpreter(provider).interpret(SseEvent(data))
        assert error.value.code is ErrorCode.LLM_RESPONSE_INVALID


def test_extra_delta_for_an_unknown_channel_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        stream_interpreter("openai.chat").extra_delta("choice 9 content", "x", SseEvent("{}"))


def test_open_channels_at_a_truncated_end() -> None:
    interpreter = stream_interpreter("anthropic.messages")
    for event in SseParser().feed(fixture("anthropic_tools.sse"))[:14]:
        interpreter.interpret(event)
    assert interpreter.open_channels == ("block 2",)


def test_a_chat_tool_call_ends_when_the_next_one_starts() -> None:
    views = interpret("openai_chat_parallel_tools.sse", "openai.chat")
    closing = [(i, view.closed) for i, view in enumerate(views) if view.closed]
    second_call_opens = 1 + len(g.WEATHER_ARGS)
    assert closing == [
        (second_call_opens, ("choice 0 tool_call 0 arguments",)),
        (len(views) - 2, ("choice 0 tool_call 1 arguments",)),
    ]
    output = Relay("openai.chat", holdback=4).run(fixture("openai_chat_parallel_tools.sse"))
    indexes = [
        call["index"]
        for view in interpret_bytes(output, "openai.chat")
        if view.data
        for choice in view.data["choices"]
        for call in choice["delta"].get("tool_calls", [])
    ]
    assert indexes == sorted(indexes)  # the held-back end of call 0 goes out before call 1 starts


@pytest.mark.parametrize(("name", "provider"), STREAMS)
@given(data=st.data())
def test_any_value_anywhere_in_an_event_is_read_or_a_coded_error(
    name: str, provider: Provider, data: st.DataObject
) -> None:
    """No event crashes the interpreter, its rewrite or a flush after it."""
    events = SseParser().feed(fixture(name))
    broken = data.draw(st.sampled_from([i for i, event in enumerate(events) if event.data != "[DONE]"]))
    document = json.loads(events[broken].data)
    path = data.draw(st.sampled_from(all_paths(document)[1:]))
    get_at(document, path[:-1])[path[-1]] = data.draw(json_values)
    events[broken] = SseEvent(json.dumps(document), events[broken].event)
    interpreter = stream_interpreter(provider)
    try:
        for event in events:
            view = interpreter.interpret(event)
            interpreter.rewrite(view, [piece.text + "!" for piece in view.texts])
            for channel in view.closed:
                interpreter.extra_delta(channel, "!", like=event)
    except ChaperoneError as error:
        assert error.code is ErrorCode.LLM_RESPONSE_INVALID


def test_reasoning_deltas_of_compatible_chat_servers() -> None:
    interpreter = stream_interpreter("openai.chat")
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-reasoner"}
    chunk["choices"] = [{"index": 0, "delta": {"reasoning_content": "think"}, "finish_reason": None}]
    view = interpreter.interpret(SseEvent(json.dumps(chunk)))
    assert [(p.channel, p.kind, p.text) for p in view.texts] == [
        ("choice 0 reasoning_content", "reasoning", "think")
    ]
    extra = json.loads(interpreter.extra_delta("choice 0 reasoning_content", "more", like=view.event).data)
    assert extra["choices"] == [
        {"index": 0, "delta": {"reasoning_content": "more"}, "logprobs": None, "finish_reason": None}
    ]
    assert extra["model"] == "deepseek-reasoner"
