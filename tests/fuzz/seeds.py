"""Valid inputs for each fuzz target, for mutators to start from: what real peers send."""

from __future__ import annotations

import gzip

import orjson
from envoy.service.auth.v3 import external_auth_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2
from google.protobuf import json_format

from ext_proc.demo import providers
from ext_proc.demo.providers import Reply

CHAT = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "mail ada@example.com"}]}
RESPONSES = {
    "model": "gpt-4o",
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
}
MESSAGES = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "refund_payment", "arguments": {"order_id": "o-1", "amount": 900}},
}
A2A_SEND = {
    "jsonrpc": "2.0",
    "id": "a1",
    "method": "message/send",
    "params": {
        "message": {"role": "user", "messageId": "m1", "parts": [{"kind": "text", "text": "order 7"}]}
    },
}
TOOL_RESULT = {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "key AKIA1234"}]}}


def _streams() -> list[bytes]:
    reply = Reply(
        model="gpt-4o", text="Hello ada.lovelace@example.com, card 4111 1111 1111 1111.", delta_chars=4
    )
    events = [
        b"".join(providers.openai_chat_stream(reply, "chatcmpl-1", include_usage=True)),
        b"".join(providers.openai_response_stream(reply, "resp-1")),
        b"".join(providers.anthropic_stream(reply, "msg-1")),
    ]
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "hi"}}],
    }
    events.append(b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n")
    block = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}
    events.append(b"event: content_block_delta\ndata: " + orjson.dumps(block) + b"\n\n")
    events.append(b"data: line one\ndata: line two\nid: 3\nretry: 10\n\n: comment\n\n")
    return events


def _json_documents() -> list[bytes]:
    return [orjson.dumps(doc) for doc in (CHAT, RESPONSES, MESSAGES, TOOL_CALL, A2A_SEND, TOOL_RESULT)]


def _check_requests() -> list[bytes]:
    request = json_format.ParseDict(
        {
            "attributes": {
                "request": {
                    "http": {
                        "method": "POST",
                        "path": "/v1/chat/completions?x=1&x=2",
                        "headers": {"content-type": "application/json", "authorization": "Bearer k"},
                        "body": orjson.dumps(CHAT).decode(),
                    }
                },
                "contextExtensions": {"upstream": "openai"},
            }
        },
        external_auth_pb2.CheckRequest(),
    )
    return [request.SerializeToString()]


def _ext_proc_messages() -> list[bytes]:
    headers = external_processor_pb2.ProcessingRequest()
    header = headers.request_headers.headers.headers.add()
    header.key, header.raw_value = ":path", b"/v1/chat/completions"
    body = external_processor_pb2.ProcessingRequest()
    body.request_body.body = orjson.dumps(CHAT)
    body.request_body.end_of_stream = True
    return [headers.SerializeToString(), body.SerializeToString()]


def _exchanges() -> list[bytes]:
    """Byte 0: route (low bits) and response type (high nibble); byte 1: request coding; byte 2:
    where the request body ends (see targets.exchange)."""
    seeds = []
    for route, document in enumerate((CHAT, RESPONSES, MESSAGES, TOOL_CALL, A2A_SEND)):
        request = orjson.dumps(document)
        for response_type, answer in ((0, _streams()[min(route, 3)]), (1, orjson.dumps(TOOL_RESULT))):
            body = request + answer
            middle = len(request) * 256 // max(1, len(body))
            seeds.append(bytes([route | response_type << 4, 0, middle]) + body)
    return seeds


SEEDS: dict[str, list[bytes]] = {
    "sse": _streams(),
    "json_body": _json_documents(),
    "jsonrpc": _json_documents(),
    "llm_requests": _json_documents(),
    "llm_responses": [*_json_documents(), b'{"choices":[{"message":{"role":"assistant","content":"hi"}}]}'],
    "llm_streams": _streams(),
    "request_inspection": [bytes([route]) + doc for route, doc in enumerate(_json_documents())],
    "http_path": [b"/v1/chat/completions?stream=true&x=%20y", b"//a/b%2F?q", b"/echo/%zz"],
    "check_request": _check_requests(),
    "ext_proc_message": _ext_proc_messages(),
    "codecs": [gzip.compress(b"hello"), *_json_documents()],
    "exchange": _exchanges(),
}
