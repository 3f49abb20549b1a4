"""Chat Completions response bodies (``object: "chat.completion"``) and their usage.

Each of ``choices[]`` has a ``message`` with ``content``, ``refusal``, ``tool_calls`` and the
legacy ``function_call``, and a ``finish_reason``; ``usage`` counts ``prompt_tokens`` (cached
ones included, ``prompt_tokens_details.cached_tokens``) and ``completion_tokens``.
"""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm import channels
from ext_proc.protocols.llm.model import JsonPath, LlmResponse, TextField, ToolCall, Usage
from ext_proc.protocols.llm.shapes import RESPONSE as S
from ext_proc.protocols.llm.shapes import Shapes


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
    content = S.opt_string(message, "content", path)
    if content is not None:
        texts.append(
            TextField(
                (*path, "content"), "assistant", "message", content, False, channels.chat_content(index)
            )
        )
    refusal = S.opt_string(message, "refusal", path)
    if refusal is not None:
        texts.append(
            TextField(
                (*path, "refusal"), "assistant", "refusal", refusal, False, channels.chat_refusal(index)
            )
        )
    for k, call in S.objects(message, "tool_calls", path):
        where = (*path, "tool_calls", k)
        kind = "custom" if call.get("type") == "custom" else "function"
        key = "input" if kind == "custom" else "arguments"
        inner = S.object(call.get(kind), (*where, kind))
        name = S.string(inner.get("name"), (*where, kind, "name"))
        arguments = S.string(inner.get(key, ""), (*where, kind, key))
        channel = channels.chat_tool_arguments(index, k)
        texts.append(TextField((*where, kind, key), "assistant", "tool_arguments", arguments, False, channel))
        calls.append(ToolCall(S.opt_string(call, "id", where), name, arguments))
    function_call = S.opt_object(message, "function_call", path)
    if function_call is not None:
        where = (*path, "function_call")
        name = S.string(function_call.get("name"), (*where, "name"))
        arguments = S.string(function_call.get("arguments", ""), (*where, "arguments"))
        channel = channels.chat_function_arguments(index)
        texts.append(
            TextField((*where, "arguments"), "assistant", "tool_arguments", arguments, False, channel)
        )
        calls.append(ToolCall(None, name, arguments))


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
