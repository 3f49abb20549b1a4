"""Every string of a response is scanned: the fields a protocol parser knows, and all the others.

Each case puts an AWS key where a scanner that read only the text fields would miss it (the
blind spots found by attack testing: audio transcripts, citations, reasoning details, tool-call
names, error objects, Responses events of other kinds, an Anthropic tool input given whole, a
delta without its block start; MCP resource links, ``_meta``, tool schemas, elicitation
schemas, log notifications; A2A data parts; object keys). The answer comes from the scripted
hostile upstream through Envoy; the client must not receive the key in any form.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.harness import Stack
from tests.security.hostile import Answer, HostileUpstream, fixed, mcp_script, split

pytestmark = pytest.mark.envoy

KEY = "AKIAIOSFODNN7EXAMPLE"
SSE = (("content-type", "text/event-stream"),)
JSON = (("content-type", "application/json"),)
CHAT = ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
CHAT_STREAM = (CHAT[0], {**CHAT[1], "stream": True})
RESPONSES_STREAM = ("/v1/responses", {"model": "gpt-4o", "input": "hi", "stream": True})
MESSAGES_STREAM = (
    "/v1/messages",
    {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    },
)


def sse(*events: dict[str, Any], named: bool = False, done: bool = False) -> bytes:
    out = b""
    for event in events:
        name = f"event: {event['type']}\n".encode() if named else b""
        out += name + b"data: " + orjson.dumps(event) + b"\n\n"
    return out + (b"data: [DONE]\n\n" if done else b"")


def completion(message: dict[str, Any]) -> bytes:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "ok", **message},
        "finish_reason": "stop",
    }
    return orjson.dumps(
        {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [choice]}
    )


def chunk(delta: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        **fields,
    }


HALF = len(KEY) // 2
LLM_CASES: dict[str, tuple[tuple[str, dict[str, Any]], Answer]] = {
    "chat audio transcript": (
        CHAT,
        Answer(
            200, JSON, (completion({"audio": {"id": "a1", "data": "AAAA", "transcript": f"say {KEY} now"}}),)
        ),
    ),
    "chat audio transcript deltas": (
        CHAT_STREAM,
        Answer(
            200,
            SSE,
            split(
                sse(
                    chunk({"audio": {"transcript": f"say {KEY[:HALF]}"}}),
                    chunk({"audio": {"transcript": f"{KEY[HALF:]} now"}}),
                    done=True,
                ),
                40,
            ),
        ),
    ),
    "chat url citation": (
        CHAT,
        Answer(
            200,
            JSON,
            (
                completion(
                    {
                        "annotations": [
                            {
                                "type": "url_citation",
                                "url_citation": {
                                    "title": f"key {KEY}",
                                    "url": f"https://x.example/?k={KEY}",
                                    "start_index": 0,
                                    "end_index": 1,
                                },
                            }
                        ]
                    }
                ),
            ),
        ),
    ),
    "chat reasoning details": (
        CHAT,
        Answer(
            200,
            JSON,
            (completion({"reasoning_details": [{"type": "reasoning.text", "text": f"the key is {KEY}"}]}),),
        ),
    ),
    "chat tool call name": (
        CHAT_STREAM,
        Answer(
            200,
            SSE,
            (
                sse(
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "t1",
                                    "type": "function",
                                    "function": {"name": f"send_{KEY}", "arguments": "{}"},
                                }
                            ]
                        }
                    ),
                    done=True,
                ),
            ),
        ),
    ),
    "chat error chunk": (
        CHAT_STREAM,
        Answer(
            200,
            SSE,
            (
                sse(
                    chunk({"content": "hi"}),
                    {"error": {"message": f"failed with {KEY}", "type": "server_error"}},
                ),
            ),
        ),
    ),
    "chat unknown field": (CHAT, Answer(200, JSON, (completion({"x_vendor": {"debug": [f"k={KEY}"]}}),))),
    "chat key as object key": (CHAT, Answer(200, JSON, (completion({"x_vendor": {KEY: 1}}),))),
    "responses code interpreter deltas": (
        RESPONSES_STREAM,
        Answer(
            200,
            SSE,
            split(
                sse(
                    {
                        "type": "response.code_interpreter_call_code.delta",
                        "output_index": 0,
                        "item_id": "ci1",
                        "delta": f"key = '{KEY[:HALF]}",
                        "sequence_number": 1,
                    },
                    {
                        "type": "response.code_interpreter_call_code.delta",
                        "output_index": 0,
                        "item_id": "ci1",
                        "delta": f"{KEY[HALF:]}'",
                        "sequence_number": 2,
                    },
                    {
                        "type": "response.code_interpreter_call_code.done",
                        "output_index": 0,
                        "item_id": "ci1",
                        "code": f"key = '{KEY}'",
                        "sequence_number": 3,
                    },
                    named=True,
                ),
                30,
            ),
        ),
    ),
    "responses annotation added": (
        RESPONSES_STREAM,
        Answer(
            200,
            SSE,
            (
                sse(
                    {
                        "type": "response.output_text.annotation.added",
                        "output_index": 0,
                        "content_index": 0,
                        "item_id": "m1",
                        "annotation_index": 0,
                        "annotation": {
                            "type": "url_citation",
                            "title": f"see {KEY}",
                            "url": "https://x.example",
                        },
                        "sequence_number": 1,
                    },
                    named=True,
                ),
            ),
        ),
    ),
    "anthropic prefilled tool input": (
        MESSAGES_STREAM,
        Answer(
            200,
            SSE,
            (
                sse(
                    {
                        "type": "message_start",
                        "message": {
                            "id": "m1",
                            "type": "message",
                            "role": "assistant",
                            "model": "claude-haiku-4-5",
                            "content": [],
                        },
                    },
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "lookup",
                            "input": {"secret": KEY},
                        },
                    },
                    {"type": "content_block_stop", "index": 0},
                    {"type": "message_stop"},
                    named=True,
                ),
            ),
        ),
    ),
    "anthropic delta without a block start": (
        MESSAGES_STREAM,
        Answer(
            200,
            SSE,
            split(
                sse(
                    {
                        "type": "message_start",
                        "message": {
                            "id": "m1",
                            "type": "message",
                            "role": "assistant",
                            "model": "claude-haiku-4-5",
                            "content": [],
                        },
                    },
                    {
                        "type": "content_block_delta",
                        "index": 3,
                        "delta": {"type": "text_delta", "text": f"the key {KEY[:HALF]}"},
                    },
                    {
                        "type": "content_block_delta",
                        "index": 3,
                        "delta": {"type": "text_delta", "text": f"{KEY[HALF:]} ok"},
                    },
                    {"type": "message_stop"},
                    named=True,
                ),
                35,
            ),
        ),
    ),
}


def post(stack: Stack, request: tuple[str, dict[str, Any]], headers: dict[str, str]) -> bytes:
    with (
        stack.client() as client,
        client.stream("POST", request[0], json=request[1], headers=headers) as response,
    ):
        return response.read()


@pytest.mark.parametrize("case", sorted(LLM_CASES))
def test_a_key_in_any_string_of_an_llm_answer_never_reaches_the_client(
    guarded: Stack, hostile: HostileUpstream, case: str
) -> None:
    request, answer = LLM_CASES[case]
    received = post(guarded, request, hostile.script(f"every-{case}", fixed(answer)))
    assert KEY not in received.decode()
    assert KEY[:HALF] + KEY[HALF:] not in received.decode().replace('","', "").replace("\n", "")


# -- MCP and A2A -----------------------------------------------------------------------------------

MCP_HEADERS = {"accept": "application/json, text/event-stream"}


def mcp_call(method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("/mcp", {"jsonrpc": "2.0", "id": 5, "method": method, "params": params})


def tool_result(result: dict[str, Any]) -> Any:
    return lambda rid: Answer(200, JSON, (orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": result}),))


POISONED_TOOL = {
    "name": "get_customer",
    "title": "Customer",
    "description": "Look up a customer.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string", "default": f"id-{KEY}", "enum": ["a", f"b {KEY}"]},
            f"token {KEY}": {"type": "string"},
        },
    },
    "outputSchema": {"type": "object", "description": f"returns {KEY}"},
    "annotations": {"title": f"Customer {KEY}"},
    "_meta": {"vendor": KEY},
}


def server_stream(*messages: dict[str, Any]) -> Any:
    def answer(rid: Any) -> Answer:
        body = b"".join(b"data: " + orjson.dumps(m) + b"\n\n" for m in messages)
        body += (
            b"data: "
            + orjson.dumps(
                {"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "done"}]}}
            )
            + b"\n\n"
        )
        return Answer(200, SSE, split(body, 50))

    return answer


MCP_CASES: dict[str, tuple[tuple[str, dict[str, Any]], Any]] = {
    "resource link description": (
        mcp_call("tools/call", {"name": "get_customer", "arguments": {}}),
        tool_result(
            {
                "content": [
                    {"type": "resource_link", "uri": "file:///a", "name": "a", "description": f"holds {KEY}"}
                ]
            }
        ),
    ),
    "result _meta": (
        mcp_call("tools/call", {"name": "get_customer", "arguments": {}}),
        tool_result({"content": [], "_meta": {"trace": KEY}}),
    ),
    "tool schemas": (mcp_call("tools/list", {}), tool_result({"tools": [POISONED_TOOL]})),
    "elicitation schema": (
        mcp_call("tools/call", {"name": "get_customer", "arguments": {}}),
        server_stream(
            {
                "jsonrpc": "2.0",
                "id": 90,
                "method": "elicitation/create",
                "params": {
                    "message": "Confirm",
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"k": {"type": "string", "default": KEY}},
                    },
                },
            }
        ),
    ),
    "log notification data": (
        mcp_call("tools/call", {"name": "get_customer", "arguments": {}}),
        server_stream(
            {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "data": {"env": {"AWS_ACCESS_KEY_ID": KEY}}},
            }
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(MCP_CASES))
def test_a_key_in_any_string_of_an_mcp_answer_never_reaches_the_client(
    guarded: Stack, hostile: HostileUpstream, case: str
) -> None:
    request, answer = MCP_CASES[case]
    received = post(
        guarded, request, {**MCP_HEADERS, **hostile.script(f"every-mcp-{case}", mcp_script(answer))}
    )
    assert KEY not in received.decode()
    assert b"REDACTED:AWS_ACCESS_KEY" in received


def test_a_key_in_an_a2a_data_part_never_reaches_the_client(guarded: Stack, hostile: HostileUpstream) -> None:
    parts = [{"kind": "data", "data": {"credentials": {"aws": KEY}, KEY: True}}]
    task = {
        "kind": "task",
        "id": "t1",
        "contextId": "c1",
        "status": {"state": "completed"},
        "artifacts": [{"artifactId": "a1", "parts": parts}],
    }
    answer = lambda rid: Answer(200, JSON, (orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": task}),))  # noqa: E731
    request = (
        "/a2a",
        {
            "jsonrpc": "2.0",
            "id": 3,
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
    received = post(guarded, request, hostile.script("every-a2a-data", mcp_script(answer)))
    assert KEY not in received.decode()
    assert (
        orjson.loads(received)["result"]["artifacts"][0]["parts"][0]["data"]["credentials"]["aws"]
        == "[REDACTED:AWS_ACCESS_KEY]"
    )
