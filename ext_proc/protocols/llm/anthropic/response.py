"""Messages response bodies (``type: "message"``) and their usage.

``content[]`` holds ``text`` blocks, ``tool_use`` blocks (``input`` is a JSON object) and
``thinking`` blocks; the server tools' blocks carry no text of the model and are skipped.
``usage.input_tokens`` excludes the tokens written to and read from the prompt cache
(``cache_creation_input_tokens``, ``cache_read_input_tokens``): ``Usage`` adds them up.
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
    for i, block in S.objects(doc, "content", ()):
        path: JsonPath = ("content", i)
        block_type = block.get("type")
        channel = channels.anthropic_block(i)
        if block_type == "text":
            text = S.string(block.get("text"), (*path, "text"))
            texts.append(TextField((*path, "text"), "assistant", "message", text, False, channel))
        elif block_type == "thinking":
            text = S.string(block.get("thinking"), (*path, "thinking"))
            texts.append(TextField((*path, "thinking"), "assistant", "reasoning", text, False, channel))
        elif block_type == "tool_use":
            name = S.string(block.get("name"), (*path, "name"))
            arguments = S.dumps(S.object(block.get("input", {}), (*path, "input")), (*path, "input"))
            texts.append(TextField((*path, "input"), "assistant", "tool_arguments", arguments, True, channel))
            calls.append(ToolCall(S.opt_string(block, "id", path), name, arguments))
    stop_reason = S.opt_string(doc, "stop_reason", ())
    return LlmResponse(
        provider="anthropic.messages",
        model=S.opt_string(doc, "model", ()),
        texts=tuple(texts),
        tool_calls=tuple(calls),
        usage=usage(S, doc.get("usage"), ("usage",)),
        stop_reasons=(stop_reason,) if stop_reason else (),
    )


def usage(shapes: Shapes, value: Any, path: JsonPath) -> Usage | None:
    """``usage`` of a message, of ``message_start`` or of ``message_delta`` (None when absent).

    In ``message_delta`` only ``output_tokens`` is certain to be there: the input counts are
    None when the event does not repeat them.
    """
    if value is None:
        return None
    value = shapes.object(value, path)
    counts = [shapes.opt_int(value, key, path) for key in _INPUT_KEYS]
    input_tokens = None if counts[0] is None else sum(count or 0 for count in counts)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=shapes.opt_int(value, "output_tokens", path),
        cached_input_tokens=counts[2],
    )


_INPUT_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
