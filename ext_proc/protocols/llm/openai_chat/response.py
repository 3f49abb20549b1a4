"""Chat Completions response bodies (``object: "chat.completion"``) and their usage.

Each of ``choices[]`` has a ``message`` with ``content``, ``refusal``, ``tool_calls`` and the
legacy ``function_call`` (and, from compatible servers, ``reasoning_content`` or ``reasoning``),
and a ``finish_reason``; ``usage`` counts ``prompt_tokens`` (cached
ones included, ``prompt_tokens_details.cached_tokens``) and ``completion_tokens``.
"""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm import channels
from ext_proc.protocols.llm.model import JsonPath, LlmResponse, TextField, TextKind, ToolCall, Usage
from ext_proc.protocols.llm.shapes import RESPONSE as S
from ext_proc.protocols.llm.shapes import Shapes

# Reasoning text that compatible servers (DeepSeek, vLLM, OpenRouter...) add beside the content.
REASONING_KEYS = ("reasoning_content", "reasoning")


def parse_response(doc: dict[str, Any]) -> LlmResponse:
    texts: list[TextField] = []
    calls: list[ToolCall] = []
    reasons: list[str] = []
    for pos, choice in S.objects(doc, "choices", ()):
        path: JsonPath = ("choices", pos)
        index = S.opt_int(choice, "index", path) or 0
        message = S.opt_object(choice, "message", path) or {}
        _message(message, (*path, "message"), index, texts, calls)
        reasons.append(S.opt_string(choice, "finish_reason", path) or "")
    return LlmResponse(
        provider="openai.chat",
        model=S.opt_string(doc, "model", ()),
        texts=tuple(texts),
        tool_calls=tuple(calls),
        usage=usage(S, doc.get("usage"), ("usage",)),
        stop_reasons=tuple(reasons),
    )


def _message(
    message: dict[str, Any], path: JsonPath, index: int, texts: list[TextField], calls: list[ToolCall]
) -> None:
    for key, kind, channel in _text_keys(index):
        text = S.opt_string(message, key, path)
        if text is not None:
            texts.append(TextField((*path, key), "assistant", kind, text, False, channel))
    for k, call in S.objects(message, "tool_calls", path):
        where = (*path, "tool_calls", k)
        tool_type = "custom" if call.get("type") == "custom" else "function"
        key = "input" if tool_type == "custom" else "arguments"
        inner = S.object(call.get(tool_type), (*where, tool_type))
        texts.append(_call_text(inner, (*where, tool_type), key, channels.chat_tool_arguments(index, k)))
        calls.append(_tool_call(inner, (*where, tool_type), key, S.opt_string(call, "id", where)))
    function_call = S.opt_object(message, "function_call", path)
    if function_call is not None:
        where = (*path, "function_call")
        texts.append(_call_text(function_call, where, "arguments", channels.chat_function_arguments(index)))
        calls.append(_tool_call(function_call, where, "arguments", None))


def _text_keys(index: int) -> tuple[tuple[str, TextKind, str], ...]:
    """The message keys holding text, the kind of that text and its channel."""
    return (
        ("content", "message", channels.chat_content(index)),
        ("refusal", "refusal", channels.chat_refusal(index)),
        *((key, "reasoning", channels.chat_reasoning(index, key)) for key in REASONING_KEYS),
    )


def _call_text(call: dict[str, Any], path: JsonPath, key: str, channel: str) -> TextField:
    arguments = S.string(call.get(key, ""), (*path, key))
    return TextField((*path, key), "assistant", "tool_arguments", arguments, False, channel)


def _tool_call(call: dict[str, Any], path: JsonPath, key: str, call_id: str | None) -> ToolCall:
    name = S.string(call.get("name"), (*path, "name"))
    return ToolCall(call_id, name, S.string(call.get(key, ""), (*path, key)))


def usage(shapes: Shapes, value: Any, path: JsonPath) -> Usage | None:
    """``usage`` of a completion or of the last chunk of a stream (None when absent)."""
    if value is None:
        return None
    value = shapes.object(value, path)
    details = shapes.opt_object(value, "prompt_tokens_details", path) or {}
    return Usage(
        input_tokens=shapes.opt_int(value, "prompt_tokens", path),
        output_tokens=shapes.opt_int(value, "completion_tokens", path),
        cached_input_tokens=shapes.opt_int(details, "cached_tokens", (*path, "prompt_tokens_details")),
    )
