"""Responses request bodies (https://platform.openai.com/docs/api-reference/responses/create).

``instructions`` is the system text. ``input`` is a string (one user message) or an array of
items: messages (``type: "message"`` or no type, with a ``role`` and a string content or an array
of ``input_text`` / ``output_text`` / ``refusal`` parts; image, file and audio parts carry no
text), ``function_call`` / ``custom_tool_call`` (tool calls), ``function_call_output`` /
``custom_tool_call_output`` (tool results, a string or an array of ``input_text`` parts) and
``mcp_call`` (a call and its output). Other items (reasoning, references to stored items, the
built-in tools' calls) carry no text a client wrote and are skipped.
"""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm.collect import RequestParts
from ext_proc.protocols.llm.model import JsonPath, LlmRequest, TextKind, ToolChoice, ToolResult
from ext_proc.protocols.llm.shapes import REQUEST as S

SYSTEM_ROLES = frozenset({"system", "developer"})
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
LOGPROBS_INCLUDE = "message.output_text.logprobs"
CHOICE_MODES = frozenset({"none", "auto", "required"})


def parse_request(doc: dict[str, Any]) -> LlmRequest:
    parts = RequestParts()
    instructions = S.opt_string(doc, "instructions", ())
    if instructions:
        parts.system.append(parts.text(("instructions",), "system", "system", instructions))
    _input(parts, doc)
    for i, tool in S.objects(doc, "tools", ()):
        _tool(parts, tool, ("tools", i))
    include = S.opt_array(doc, "include", ())
    return parts.build(
        "openai.responses",
        model=S.opt_string(doc, "model", ()),
        stream=bool(S.opt_bool(doc, "stream", ())),
        max_tokens=S.opt_int(doc, "max_output_tokens", ()),
        tool_choice=tool_choice(doc.get("tool_choice")),
        logprobs=bool(S.opt_int(doc, "top_logprobs", ())) or LOGPROBS_INCLUDE in include,
    )


def _input(parts: RequestParts, doc: dict[str, Any]) -> None:
    value = doc.get("input")
    if value is None:
        return
    if isinstance(value, str):
        parts.message("user", [parts.text(("input",), "user", "message", value)])
        return
    for i, item in enumerate(S.array(value, ("input",))):
        _item(parts, S.object(item, ("input", i)), ("input", i))


def _item(parts: RequestParts, item: dict[str, Any], path: JsonPath) -> None:
    item_type = S.opt_string(item, "type", path) or "message"
    if item_type == "message":
        role = S.string(item.get("role"), (*path, "role"))
        if role in SYSTEM_ROLES:
            parts.system.extend(_content(parts, item, "content", path, role=role, kind="system"))
        else:
            parts.message(role, _content(parts, item, "content", path, role=role, kind="message"))
    elif item_type in ("function_call", "custom_tool_call", "mcp_call"):
        _call(parts, item, path, item_type)
    elif item_type in ("function_call_output", "custom_tool_call_output"):
        texts = _content(parts, item, "output", path, role="tool", kind="tool_result")
        parts.tool_results.append(ToolResult(S.opt_string(item, "call_id", path), "\n".join(texts)))


def _call(parts: RequestParts, item: dict[str, Any], path: JsonPath, item_type: str) -> None:
    key = "input" if item_type == "custom_tool_call" else "arguments"
    name = S.string(item.get("name"), (*path, "name"))
    arguments = S.string(item.get(key, ""), (*path, key))
    call_id = S.opt_string(item, "id" if item_type == "mcp_call" else "call_id", path)
    parts.tool_call(call_id, name, arguments, (*path, key))
    if item_type == "mcp_call" and item.get("output") is not None:
        # The MCP server's answer, run by the provider and replayed here as history.
        output = S.string(item.get("output"), (*path, "output"))
        parts.text((*path, "output"), "tool", "tool_result", output)
        parts.tool_results.append(ToolResult(call_id, output))


def _content(
    parts: RequestParts, item: dict[str, Any], key: str, path: JsonPath, *, role: str, kind: TextKind
) -> list[str]:
    """The texts of a string or an array of parts at ``key``, recorded as text fields."""
    content = item.get(key)
    where = (*path, key)
    if content is None:
        return []
    if isinstance(content, str):
        return [parts.text(where, role, kind, content)]
    texts = []
    for j, value in enumerate(S.array(content, where)):
        part = S.object(value, (*where, j))
        part_type = S.opt_string(part, "type", (*where, j))
        if part_type in TEXT_PARTS:
            text = S.string(part.get("text"), (*where, j, "text"))
            texts.append(parts.text((*where, j, "text"), role, kind, text))
        elif part_type == "refusal":
            refusal = S.string(part.get("refusal"), (*where, j, "refusal"))
            parts.text((*where, j, "refusal"), role, "refusal", refusal)
    return texts


def tool_name(tool: dict[str, Any]) -> str | None:
    """A tool's name; built-in tools (web search, file search, MCP servers...) go by their type."""
    name = tool.get("name")
    if isinstance(name, str):
        return name
    tool_type = tool.get("type")
    return tool_type if isinstance(tool_type, str) else None


def _tool(parts: RequestParts, tool: dict[str, Any], path: JsonPath) -> None:
    tool_type = S.string(tool.get("type", "function"), (*path, "type"))
    if tool_type in ("function", "custom"):
        S.string(tool.get("name"), (*path, "name"))
    description = S.opt_string(tool, "description", path)
    schema = tool.get("parameters") if tool_type == "function" else tool.get("format")
    parts.tool(tool_name(tool) or tool_type, tool_type, description, schema, (*path, "description"))


def tool_choice(choice: Any) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        return ToolChoice(choice)
    choice = S.object(choice, ("tool_choice",))
    choice_type = S.string(choice.get("type"), ("tool_choice", "type"))
    if choice_type == "allowed_tools":
        return ToolChoice(S.opt_string(choice, "mode", ("tool_choice",)) or "auto")
    name = choice.get("name")
    if choice_type in ("function", "custom"):
        return ToolChoice("tool", S.string(name, ("tool_choice", "name")))
    # A built-in tool by its type, or an MCP server's tool.
    return ToolChoice("tool", name if isinstance(name, str) else choice_type)
