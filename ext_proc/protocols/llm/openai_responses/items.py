"""The texts of the Responses API's output items, shared by complete responses and stream events.

An output item (``response.output[x]``, or the ``item`` of ``response.output_item.*`` events) is a
``message`` (``content[]`` of ``output_text`` and ``refusal`` parts), a ``function_call``
(``arguments``), a ``custom_tool_call`` (``input``), a ``reasoning`` item (``summary[]`` and
``content[]`` texts) or an ``mcp_call`` (``arguments`` and the server's ``output``). The built-in
tools' items carry no text of the model and are skipped.
"""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm import channels
from ext_proc.protocols.llm.model import JsonPath, TextField, TextKind, ToolCall, Usage
from ext_proc.protocols.llm.shapes import Shapes

CALL_TYPES = {"function_call": "arguments", "custom_tool_call": "input", "mcp_call": "arguments"}


def item_texts(shapes: Shapes, item: dict[str, Any], path: JsonPath, output: int) -> list[TextField]:
    item_type = shapes.opt_string(item, "type", path)
    if item_type == "message":
        return [
            text
            for y, part in shapes.objects(item, "content", path)
            for text in part_texts(shapes, part, (*path, "content", y), output, y)
        ]
    if item_type in CALL_TYPES:
        key = CALL_TYPES[item_type]
        arguments = shapes.string(item.get(key, ""), (*path, key))
        channel = channels.responses_input(output) if key == "input" else channels.responses_arguments(output)
        texts = [TextField((*path, key), "assistant", "tool_arguments", arguments, False, channel)]
        mcp_output = shapes.opt_string(item, "output", path) if item_type == "mcp_call" else None
        if mcp_output is not None:
            channel = channels.responses_output(output)
            texts.append(TextField((*path, "output"), "tool", "tool_result", mcp_output, False, channel))
        return texts
    if item_type == "reasoning":
        return _reasoning(shapes, item, path, output)
    return []


def part_texts(
    shapes: Shapes, part: dict[str, Any], path: JsonPath, output: int, index: int
) -> list[TextField]:
    """The text of a message content part (``output_text`` or ``refusal``)."""
    part_type = shapes.opt_string(part, "type", path)
    if part_type == "output_text":
        text = shapes.string(part.get("text"), (*path, "text"))
        return [
            TextField(
                (*path, "text"), "assistant", "message", text, False, channels.responses_text(output, index)
            )
        ]
    if part_type == "refusal":
        text = shapes.string(part.get("refusal"), (*path, "refusal"))
        channel = channels.responses_refusal(output, index)
        return [TextField((*path, "refusal"), "assistant", "refusal", text, False, channel)]
    if part_type == "reasoning_text":
        return [_text(shapes, part, path, "reasoning", channels.responses_reasoning(output, index))]
    return []


def summary_text(shapes: Shapes, part: dict[str, Any], path: JsonPath, output: int, index: int) -> TextField:
    return _text(shapes, part, path, "reasoning", channels.responses_summary(output, index))


def _reasoning(shapes: Shapes, item: dict[str, Any], path: JsonPath, output: int) -> list[TextField]:
    texts = [
        summary_text(shapes, part, (*path, "summary", y), output, y)
        for y, part in shapes.objects(item, "summary", path)
    ]
    for y, part in shapes.objects(item, "content", path):
        channel = channels.responses_reasoning(output, y)
        texts.append(_text(shapes, part, (*path, "content", y), "reasoning", channel))
    return texts


def _text(shapes: Shapes, part: dict[str, Any], path: JsonPath, kind: TextKind, channel: str) -> TextField:
    text = shapes.string(part.get("text", ""), (*path, "text"))
    return TextField((*path, "text"), "assistant", kind, text, False, channel)


def item_tool_call(shapes: Shapes, item: dict[str, Any], path: JsonPath) -> ToolCall | None:
    key = CALL_TYPES.get(shapes.opt_string(item, "type", path) or "")
    if key is None:
        return None
    name = shapes.string(item.get("name"), (*path, "name"))
    call_id = shapes.opt_string(item, "call_id", path) or shapes.opt_string(item, "id", path)
    return ToolCall(call_id, name, shapes.string(item.get(key, ""), (*path, key)))


def usage(shapes: Shapes, value: Any, path: JsonPath) -> Usage | None:
    """``usage`` of a response: ``input_tokens`` (cached ones included), ``output_tokens``."""
    if value is None:
        return None
    value = shapes.object(value, path)
    details = shapes.opt_object(value, "input_tokens_details", path) or {}
    return Usage(
        input_tokens=shapes.opt_int(value, "input_tokens", path),
        output_tokens=shapes.opt_int(value, "output_tokens", path),
        cached_input_tokens=shapes.opt_int(details, "cached_tokens", (*path, "input_tokens_details")),
    )
