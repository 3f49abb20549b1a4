"""Chat Completions request bodies (https://platform.openai.com/docs/api-reference/chat/create).

``messages[]`` have a ``role`` and a ``content`` that is a string or an array of parts (``text``,
``refusal``; ``image_url``, ``input_audio`` and ``file`` parts carry no text and are skipped).
Assistant messages may carry ``refusal``, ``tool_calls`` (``function`` or ``custom``) and the
legacy ``function_call``; ``tool`` messages (and legacy ``function`` ones) are tool results.
Tools come in ``tools[]`` (``function`` or ``custom``) or in the legacy ``functions[]``.
"""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm.collect import RequestParts
from ext_proc.protocols.llm.model import JsonPath, LlmRequest, TextKind, ToolChoice, ToolResult
from ext_proc.protocols.llm.shapes import REQUEST as S

SYSTEM_ROLES = frozenset({"system", "developer"})
TOOL_ROLES = frozenset({"tool", "function"})


def parse_request(doc: dict[str, Any]) -> LlmRequest:
    parts = RequestParts()
    for i, message in S.objects(doc, "messages", ()):
        _message(parts, message, ("messages", i))
    _tools(parts, doc)
    max_tokens = S.opt_int(doc, "max_completion_tokens", ())
    if max_tokens is None:
        max_tokens = S.opt_int(doc, "max_tokens", ())
    stream_options = S.opt_object(doc, "stream_options", ()) or {}
    return parts.build(
        "openai.chat",
        model=S.opt_string(doc, "model", ()),
        stream=bool(S.opt_bool(doc, "stream", ())),
        max_tokens=max_tokens,
        tool_choice=_tool_choice(doc),
        include_usage=bool(S.opt_bool(stream_options, "include_usage", ("stream_options",))),
        logprobs=bool(S.opt_bool(doc, "logprobs", ())),
        choices=S.opt_int(doc, "n", ()) or 1,
    )


def _message(parts: RequestParts, message: dict[str, Any], path: JsonPath) -> None:
    role = S.string(message.get("role"), (*path, "role"))
    if role in TOOL_ROLES:
        texts = _content(parts, message, path, role, "tool_result")
        call_id = S.opt_string(message, "tool_call_id" if role == "tool" else "name", path)
        parts.tool_results.append(ToolResult(call_id, "\n".join(texts)))
        return
    if role in SYSTEM_ROLES:
        parts.system.extend(_content(parts, message, path, role, "system"))
        return
    texts = _content(parts, message, path, role, "message")
    refusal = S.opt_string(message, "refusal", path)
    if refusal:
        parts.text((*path, "refusal"), role, "refusal", refusal)
    parts.message(role, texts)
    for j, call in S.objects(message, "tool_calls", path):
        _tool_call(parts, call, (*path, "tool_calls", j))
    function_call = S.opt_object(message, "function_call", path)
    if function_call is not None:
        where = (*path, "function_call")
        name = S.string(function_call.get("name"), (*where, "name"))
        arguments = S.string(function_call.get("arguments", ""), (*where, "arguments"))
        parts.tool_call(None, name, arguments, (*where, "arguments"))


def _content(
    parts: RequestParts, message: dict[str, Any], path: JsonPath, role: str, kind: TextKind
) -> list[str]:
    """The texts of ``content`` (a string, an array of parts, or null), recorded as text fields."""
    content = message.get("content")
    where = (*path, "content")
    if content is None:
        return []
    if isinstance(content, str):
        return [parts.text(where, role, kind, content)]
    texts = []
    for j, value in enumerate(S.array(content, where)):
        part = S.object(value, (*where, j))
        part_type = S.opt_string(part, "type", (*where, j))
        if part_type == "text":
            texts.append(
                parts.text((*where, j, "text"), role, kind, S.string(part.get("text"), (*where, j, "text")))
            )
        elif part_type == "refusal":
            refusal = S.string(part.get("refusal"), (*where, j, "refusal"))
            parts.text((*where, j, "refusal"), role, "refusal", refusal)
    return texts


def _tool_call(parts: RequestParts, call: dict[str, Any], path: JsonPath) -> None:
    call_id = S.opt_string(call, "id", path)
    if call.get("type") == "custom":
        custom = S.object(call.get("custom"), (*path, "custom"))
        name = S.string(custom.get("name"), (*path, "custom", "name"))
        text = S.string(custom.get("input", ""), (*path, "custom", "input"))
        parts.tool_call(call_id, name, text, (*path, "custom", "input"))
        return
    function = S.object(call.get("function"), (*path, "function"))
    name = S.string(function.get("name"), (*path, "function", "name"))
    arguments = S.string(function.get("arguments", ""), (*path, "function", "arguments"))
    parts.tool_call(call_id, name, arguments, (*path, "function", "arguments"))


def _tools(parts: RequestParts, doc: dict[str, Any]) -> None:
    for i, tool in S.objects(doc, "tools", ()):
        tool_type = S.opt_string(tool, "type", ("tools", i)) or "function"
        if tool_type in ("function", "custom"):
            _definition(parts, tool, ("tools", i), tool_type)
        else:
            parts.tool(tool_type, tool_type, None, None, ())
    for i, function in S.objects(doc, "functions", ()):
        _named(parts, function, ("functions", i), "function", "parameters")


def _definition(parts: RequestParts, tool: dict[str, Any], path: JsonPath, tool_type: str) -> None:
    inner = S.object(tool.get(tool_type), (*path, tool_type))
    _named(parts, inner, (*path, tool_type), tool_type, "parameters" if tool_type == "function" else "format")


def _named(
    parts: RequestParts, tool: dict[str, Any], path: JsonPath, tool_type: str, schema_key: str
) -> None:
    name = S.string(tool.get("name"), (*path, "name"))
    description = S.opt_string(tool, "description", path)
    parts.tool(name, tool_type, description, tool.get(schema_key), (*path, "description"))


def _tool_choice(doc: dict[str, Any]) -> ToolChoice | None:
    choice = doc.get("tool_choice")
    if choice is None:
        choice = doc.get("function_call")  # the legacy form: "none", "auto" or {"name": ...}
        if isinstance(choice, dict):
            return ToolChoice("tool", S.string(choice.get("name"), ("function_call", "name")))
    if choice is None or isinstance(choice, str):
        return None if choice is None else ToolChoice(choice)
    choice = S.object(choice, ("tool_choice",))
    choice_type = choice.get("type")
    if choice_type in ("function", "custom"):
        inner = S.object(choice.get(choice_type), ("tool_choice", choice_type))
        return ToolChoice("tool", S.string(inner.get("name"), ("tool_choice", choice_type, "name")))
    if choice_type == "allowed_tools":
        allowed = S.object(choice.get("allowed_tools"), ("tool_choice", "allowed_tools"))
        return ToolChoice(S.opt_string(allowed, "mode", ("tool_choice", "allowed_tools")) or "auto")
    S.fail(("tool_choice", "type"), '"function", "custom" or "allowed_tools"', choice_type)
