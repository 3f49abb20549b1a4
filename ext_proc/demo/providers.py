"""Synthetic answers in the wire formats of OpenAI Chat Completions, OpenAI Responses and
Anthropic Messages, JSON or streamed as SSE, for the demo upstream and tests.

The formats follow the providers' public API references (event names, field names, the order of
stream events, where usage is reported), so that the official SDKs parse them as they would parse
the real services.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

SseBytes = bytes


@dataclass(frozen=True, slots=True)
class Reply:
    model: str
    text: str
    tool_name: str | None = None  # answer with a call to this tool instead of (after) the text
    tool_arguments: str = "{}"
    input_tokens: int = 12
    delta_chars: int = 0  # size of the streamed text pieces; 0 streams word by word

    @property
    def output_tokens(self) -> int:
        return max(1, len(self.text.split()) + (len(self.tool_arguments) // 4 if self.tool_name else 0))

    def pieces(self, text: str) -> list[str]:
        if self.delta_chars <= 0:
            words = text.split(" ")
            return [words[0], *(" " + word for word in words[1:])]
        size = self.delta_chars
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _data(payload: dict[str, Any]) -> SseBytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _event(name: str, payload: dict[str, Any]) -> SseBytes:
    return b"event: " + name.encode() + b"\n" + _data(payload)


# -- OpenAI Chat Completions --------------------------------------------------------------------


def openai_chat_json(reply: Reply, completion_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    finish = "stop"
    if reply.tool_name:
        message["tool_calls"] = [
            {
                "id": "call_demo_1",
                "type": "function",
                "function": {"name": reply.tool_name, "arguments": reply.tool_arguments},
            }
        ]
        finish = "tool_calls"
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _openai_usage(reply),
    }


def openai_chat_stream(reply: Reply, completion_id: str, include_usage: bool) -> Iterator[SseBytes]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> SseBytes:
        return _data(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": reply.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    if reply.text:
        for piece in reply.pieces(reply.text):
            yield chunk({"content": piece})
    if reply.tool_name:
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_demo_1",
                        "type": "function",
                        "function": {"name": reply.tool_name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in reply.pieces(reply.tool_arguments):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_name else "stop")
    if include_usage:
        usage_chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": reply.model,
            "choices": [],
            "usage": _openai_usage(reply),
        }
        yield _data(usage_chunk)
    yield b"data: [DONE]\n\n"


def _openai_usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


# -- OpenAI Responses ---------------------------------------------------------------------------


def _responses_output(reply: Reply) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if reply.text:
        output.append(
            {
                "type": "message",
                "id": "msg_demo_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    if reply.tool_name:
        output.append(
            {
                "type": "function_call",
                "id": "fc_demo_1",
                "call_id": "call_demo_1",
                "name": reply.tool_name,
                "arguments": reply.tool_arguments,
                "status": "completed",
            }
        )
    return output


def openai_response_json(reply: Reply, response_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": reply.model,
        "output": _responses_output(reply) if status == "completed" else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        if status == "completed"
        else None,
    }


def openai_response_stream(reply: Reply, response_id: str) -> Iterator[SseBytes]:
    sequence = iter(range(1_000_000))

    def event(name: str, **fields: Any) -> SseBytes:
        return _event(name, {"type": name, "sequence_number": next(sequence), **fields})

    yield event("response.created", response=openai_response_json(reply, response_id, "in_progress"))
    yield event("response.in_progress", response=openai_response_json(reply, response_id, "in_progress"))
    index = 0
    if reply.text:
        item = {
            "type": "message",
            "id": "msg_demo_1",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        yield event("response.output_item.added", output_index=index, item=item)
        part = {"type": "output_text", "text": "", "annotations": []}
        yield event(
            "response.content_part.added",
            item_id="msg_demo_1",
            output_index=index,
            content_index=0,
            part=part,
        )
        for piece in reply.pieces(reply.text):
            yield event(
                "response.output_text.delta",
                item_id="msg_demo_1",
                output_index=index,
                content_index=0,
                delta=piece,
            )
        yield event(
            "response.output_text.done",
            item_id="msg_demo_1",
            output_index=index,
            content_index=0,
            text=reply.text,
        )
        done_part = {"type": "output_text", "text": reply.text, "annotations": []}
        yield event(
            "response.content_part.done",
            item_id="msg_demo_1",
            output_index=index,
            content_index=0,
            part=done_part,
        )
        yield event("response.output_item.done", output_index=index, item=_responses_output(reply)[0])
        index += 1
    if reply.tool_name:
        call = {**_responses_output(reply)[-1], "arguments": "", "status": "in_progress"}
        yield event("response.output_item.added", output_index=index, item=call)
        for piece in reply.pieces(reply.tool_arguments):
            yield event(
                "response.function_call_arguments.delta", item_id="fc_demo_1", output_index=index, delta=piece
            )
        yield event(
            "response.function_call_arguments.done",
            item_id="fc_demo_1",
            output_index=index,
            arguments=reply.tool_arguments,
        )
        yield event("response.output_item.done", output_index=index, item=_responses_output(reply)[-1])
    yield event("response.completed", response=openai_response_json(reply, response_id))


# -- Anthropic Messages -------------------------------------------------------------------------


def anthropic_json(reply: Reply, message_id: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    if reply.tool_name:
        content.append(
            {
                "type": "tool_use",
                "id": "toolu_demo_1",
                "name": reply.tool_name,
                "input": orjson.loads(reply.tool_arguments),
            }
        )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": content,
        "stop_reason": "tool_use" if reply.tool_name else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }


def anthropic_stream(reply: Reply, message_id: str) -> Iterator[SseBytes]:
    start = {**anthropic_json(reply, message_id), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": reply.input_tokens, "output_tokens": 1}
    yield _event("message_start", {"type": "message_start", "message": start})
    index = 0
    if reply.text:
        block: dict[str, Any] = {"type": "text", "text": ""}
        yield _event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        yield _event("ping", {"type": "ping"})
        for piece in reply.pieces(reply.text):
            delta = {"type": "text_delta", "text": piece}
            yield _event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            )
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1
    if reply.tool_name:
        block = {"type": "tool_use", "id": "toolu_demo_1", "name": reply.tool_name, "input": {}}
        yield _event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        for piece in reply.pieces(reply.tool_arguments):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield _event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            )
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    stop = "tool_use" if reply.tool_name else "end_turn"
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        },
    )
    yield _event("message_stop", {"type": "message_stop"})
