"""A secret planted anywhere in a response never reaches the client.

Random OpenAI (Chat, Responses), Anthropic, MCP and A2A responses, with random extra fields of
any shape, get a secret at a random string: a value or an object key, a field the protocol
names or one it does not. They are answered with a random status and label, whole or as an
event stream cut at random points, and go through the per-stream state machine (the code Envoy
drives, with the real policy engine and the shipped default policy). Whatever reaches the client
(forwarded bytes, rewritten bodies, refusals), read as raw bytes and as every string of its JSON
and SSE, holds no trace of the secret. The same runs through Envoy in test_response_formats.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ext_proc.policy.decision import BodyMode
from ext_proc.policy.evaluator import Evaluator
from ext_proc.processing.events import BodyEvent, Continue, Direction, HeadersEvent, Reject
from ext_proc.processing.stream import StreamProcessor, StreamSettings
from ext_proc.protocols.sse import SseParser
from tests.in_process import QuietAudit, default_policy_evaluator

SECRETS = ("AKIAIOSFODNN7EXAMPLE", "ada.lovelace@example.com", "sk-proj-7f3kQ9vX2mN8pL4rT6yW1zB5cD0eF9gH")


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return default_policy_evaluator()


# -- random documents --------------------------------------------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | words,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(words, children, max_size=3),
    max_leaves=8,
)
extras = st.dictionaries(words.map(lambda key: f"x-{key}"), json_values, max_size=3)


def chat_completion(text: str, extra: dict[str, Any]) -> dict[str, Any]:
    message = {
        "role": "assistant",
        "content": text,
        "annotations": [
            {"type": "url_citation", "url_citation": {"title": "t", "url": "https://example.com"}}
        ],
    }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        **extra,
    }


def chat_chunks(text: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
    head = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)] or [""]
    chunks = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{**head, "choices": [{"index": 0, "delta": {"content": piece}}]} for piece in pieces]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra})
    return chunks


def responses_body(text: str, extra: dict[str, Any]) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": []}
    item = {"type": "message", "id": "m1", "role": "assistant", "status": "completed", "content": [part]}
    return {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4o",
        "status": "completed",
        "output": [item],
        **extra,
    }


def anthropic_message(text: str, extra: dict[str, Any]) -> dict[str, Any]:
    blocks = [
        {"type": "text", "text": text},
        {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}},
    ]
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": blocks,
        "stop_reason": "end_turn",
        **extra,
    }


def anthropic_events(text: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)] or [""]
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [],
        },
    }
    events = [
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        for piece in pieces
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, **extra},
        {"type": "message_stop"},
    ]
    return events


def mcp_result(text: str, extra: dict[str, Any]) -> dict[str, Any]:
    result = {
        "content": [
            {"type": "text", "text": text},
            {"type": "resource_link", "uri": "file:///a", "name": "a", "description": "d"},
        ],
        "structuredContent": {"rows": [text]},
        "_meta": {"k": "v"},
        "isError": False,
        **extra,
    }
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def a2a_result(text: str, extra: dict[str, Any]) -> dict[str, Any]:
    parts = [{"kind": "text", "text": text}, {"kind": "data", "data": {"note": text, **extra}}]
    task = {
        "kind": "task",
        "id": "t1",
        "contextId": "c1",
        "status": {"state": "completed"},
        "artifacts": [{"artifactId": "a1", "parts": parts}],
    }
    return {"jsonrpc": "2.0", "id": 1, "result": task}


LLM_REQUESTS = {
    "openai.chat": (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "openai.responses": ("/v1/responses", {"model": "gpt-4o", "input": "hi"}),
    "anthropic.messages": (
        "/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
    ),
}
MCP_REQUEST = (
    "/mcp",
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_customer", "arguments": {}}},
)
A2A_REQUEST = (
    "/a2a",
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": "m",
                "role": "user",
                "parts": [{"kind": "text", "text": "hi"}],
            }
        },
    },
)

# name -> (request, whole document builder, event builder, SSE event name from the data type)
KINDS: dict[str, tuple[tuple[str, dict[str, Any]], Any, Any, bool]] = {
    "openai.chat": (LLM_REQUESTS["openai.chat"], chat_completion, chat_chunks, False),
    "openai.responses": (LLM_REQUESTS["openai.responses"], responses_body, None, False),
    "anthropic.messages": (LLM_REQUESTS["anthropic.messages"], anthropic_message, anthropic_events, True),
    "mcp": (MCP_REQUEST, mcp_result, lambda text, extra: [mcp_result(text, extra)], False),
    "a2a": (A2A_REQUEST, a2a_result, lambda text, extra: [a2a_result(text, extra)], False),
}


def string_locations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], bool]]:
    """(path, is_key) of every string and key in a document (independent of the code under test)."""
    if isinstance(value, str):
        yield path, False
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), True
            yield from string_locations(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from string_locations(item, (*path, i))


def planted(document: Any, location: tuple[tuple[Any, ...], bool], secret: str) -> Any:
    path, is_key = location
    copy = orjson.loads(orjson.dumps(document))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1] if path else None
    if not path:
        return f"see {secret} here"
    if is_key:
        parent[f"k {secret} k"] = parent.pop(last)
    else:
        parent[last] = f"{parent[last]} {secret} ."
    return copy


# -- through the state machine -------------------------------------------------------------------


def run(
    evaluator: Evaluator,
    request: tuple[str, dict[str, Any]],
    status: int,
    label: str | None,
    body: bytes,
    cuts: list[int],
) -> bytes:
    async def play() -> bytes:
        processor = StreamProcessor(evaluator, QuietAudit(), StreamSettings())
        path, document = request
        headers = {
            ":method": "POST",
            ":path": path,
            ":authority": "api",
            ":scheme": "http",
            "content-type": "application/json",
        }
        await processor.handle(HeadersEvent(Direction.REQUEST, headers, False))
        sent = await processor.handle(BodyEvent(Direction.REQUEST, orjson.dumps(document), True))
        assert isinstance(sent, Continue)
        response = {":status": str(status), **({"content-type": label} if label else {})}
        answer = await processor.handle(HeadersEvent(Direction.RESPONSE, response, False))
        if isinstance(answer, Reject):
            return answer.body
        mode = answer.mode.response_body if answer.mode is not None else BodyMode.NONE
        assert mode is not BodyMode.NONE, "a response of agent traffic is always read"
        pieces = [body] if mode is BodyMode.BUFFERED else split(body, cuts)
        out = bytearray()
        for i, piece in enumerate(pieces):
            action = await processor.handle(BodyEvent(Direction.RESPONSE, piece, i == len(pieces) - 1))
            if isinstance(action, Reject):
                return bytes(out) + action.body
            out += piece if action.body is None else action.body
        processor.close()
        return bytes(out)

    return asyncio.run(play())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)] or [b""]


def visible(output: bytes) -> list[str]:
    """Everything the client could read: the bytes, and every string of the JSON they carry."""
    texts = [output.decode("utf-8", "replace")]
    documents: list[Any] = []
    try:
        documents.append(orjson.loads(output))
    except orjson.JSONDecodeError:
        parser = SseParser()
        for event in parser.feed(output + b"\n\n"):
            texts.extend(filter(None, (event.event, event.id, event.data)))
            with contextlib.suppress(orjson.JSONDecodeError):
                documents.append(orjson.loads(event.data))
    for document in documents:
        texts.extend(_strings(document))
    return texts


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def encode(documents: list[dict[str, Any]], named: bool, escaped: bool) -> bytes:
    out = b""
    for document in documents:
        data = orjson.dumps(document)
        if escaped:
            # A hostile encoder: every secret's first letter as a JSON escape.
            for secret in SECRETS:
                data = data.replace(
                    secret[:1].encode() + secret[1:].encode(),
                    b"\\u%04x" % ord(secret[0]) + secret[1:].encode(),
                )
        name = f"event: {document['type']}\n".encode() if named and "type" in document else b""
        out += name + b"data: " + data + b"\n\n"
    return out


settings_ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings_
@given(data=st.data())
def test_a_secret_at_any_string_of_a_json_answer_never_reaches_the_client(
    evaluator: Evaluator, kind: str, data: st.DataObject
) -> None:
    request, whole, _, _ = KINDS[kind]
    secret = data.draw(st.sampled_from(SECRETS))
    document = whole(data.draw(words), data.draw(extras))
    location = data.draw(st.sampled_from(list(string_locations(document))))
    body = orjson.dumps(planted(document, location, secret))
    if data.draw(st.booleans()):
        body = body.replace(
            secret[:1].encode() + secret[1:].encode(), b"\\u%04x" % ord(secret[0]) + secret[1:].encode()
        )
    status = data.draw(st.sampled_from([200, 200, 400, 500]))
    label = data.draw(
        st.sampled_from(["application/json", "text/plain", None, "application/json,application/json"])
    )
    output = run(evaluator, request, status, label, body, [])
    assert not any(secret in text for text in visible(output))


@pytest.mark.parametrize("kind", sorted(name for name, spec in KINDS.items() if spec[2] is not None))
@settings_
@given(data=st.data())
def test_a_secret_at_any_string_of_a_stream_never_reaches_the_client(
    evaluator: Evaluator, kind: str, data: st.DataObject
) -> None:
    request, _, events_of, named = KINDS[kind]
    secret = data.draw(st.sampled_from(SECRETS))
    if data.draw(st.booleans()):
        # In the streamed text, split across deltas.
        events = events_of(f"the value is {secret} ok", data.draw(extras))
    else:
        events = events_of(data.draw(words), data.draw(extras))
        at = data.draw(st.integers(0, len(events) - 1))
        events[at] = planted(
            events[at], data.draw(st.sampled_from(list(string_locations(events[at])))), secret
        )
    if kind in LLM_REQUESTS:
        request = (request[0], {**request[1], "stream": True})
    body = encode(events, named, data.draw(st.booleans()))
    if kind == "openai.chat":
        body += b"data: [DONE]\n\n"
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=8))
    label = data.draw(st.sampled_from(["text/event-stream", "application/json", None]))
    output = run(evaluator, request, 200, label, body, cuts)
    assert not any(secret in text for text in visible(output))
