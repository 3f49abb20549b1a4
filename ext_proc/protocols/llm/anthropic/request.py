"""Messages request bodies (https://docs.anthropic.com/en/api/messages).

``system`` is a string or an array of ``text`` blocks. ``messages[]`` have a ``role`` and a
``content`` that is a string or an array of blocks: ``text``; ``document`` with a plain-text
source; ``search_result`` (its ``content`` is text blocks); ``tool_use`` (a call whose ``input``
is a JSON object); ``tool_result`` (a string or an array of the same blocks). Images, thinking
blocks (signed by the provider: changing them makes the next turn fail) and the server tools'
blocks carry no text a client wrote and are skipped.
"""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm.collect import RequestParts
from ext_proc.protocols.llm.model import JsonPath, LlmRequest, TextKind, ToolChoice, ToolResult
from ext_proc.protocols.llm.shapes import REQUEST as S


def parse_request(doc: dict[str, Any]) -> LlmRequest:
    parts = RequestParts()
    parts.system.extend(_blocks(parts, doc, "system", (), role="system", kind="system"))
    for i, message in S.objects(doc, "messages", ()):
        path = ("messages", i)
        role = S.string(message.get("role"), (*path, "role"))
        parts.message(role, _blocks(parts, message, "content", path, role=role, kind="message"))
    for i, tool in S.objects(doc, "tools", ()):
        path = ("tools", i)
        name = S.string(tool.get("name"), (*path, "name"))
        tool_type = S.opt_string(tool, "type", path) or "custom"
        description = S.opt_string(tool, "description", path)
        parts.tool(name, tool_type, description, tool.get("input_schema"), (*path, "description"))
    return parts.build(
        "anthropic.messages",
        model=S.opt_string(doc, "model", ()),
        stream=bool(S.opt_bool(doc, "stream", ())),
        max_tokens=S.opt_int(doc, "max_tokens", ()),
        tool_choice=_tool_choice(S.opt_object(doc, "tool_choice", ())),
    )


def _blocks(
    parts: RequestParts, parent: dict[str, Any], key: str, path: JsonPath, *, role: str, kind: TextKind
) -> list[str]:
    """The texts of a string or an array of blocks at ``key``, recorded as text fields."""
    content = parent.get(key)
    where = (*path, key)
    if content is None:
        return []
    if isinstance(content, str):
        return [parts.text(where, role, kind, content)]
    texts: list[str] = []
    for j, block in enumerate(S.array(content, where)):
        texts.extend(_block(parts, S.object(block, (*where, j)), (*where, j), role, kind))
    return texts


def _block(
    parts: RequestParts, block: dict[str, Any], path: JsonPath, role: str, kind: TextKind
) -> list[str]:
    block_type = block.get("type")
    if block_type == "text":
        return [parts.text((*path, "text"), role, kind, S.string(block.get("text"), (*path, "text")))]
    if block_type == "document":
        source = S.opt_object(block, "source", path) or {}
        if source.get("type") == "text":
            data = S.string(source.get("data"), (*path, "source", "data"))
            return [parts.text((*path, "source", "data"), role, kind, data)]
        if source.get("type") == "content":
            return _blocks(parts, source, "content", (*path, "source"), role=role, kind=kind)
        return []
    if block_type == "search_result":
        return _blocks(parts, block, "content", path, role=role, kind=kind)
    if block_type == "tool_use":
        _tool_use(parts, block, path)
    elif block_type == "tool_result":
        texts = _blocks(parts, block, "content", path, role="tool", kind="tool_result")
        call_id = S.opt_string(block, "tool_use_id", path)
        is_error = bool(S.opt_bool(block, "is_error", path))
        parts.tool_results.append(ToolResult(call_id, "\n".join(texts), is_error))
    return []


def _tool_use(parts: RequestParts, block: dict[str, Any], path: JsonPath) -> None:
    name = S.string(block.get("name"), (*path, "name"))
    arguments = S.dumps(S.object(block.get("input", {}), (*path, "input")), (*path, "input"))
    parts.tool_call(S.opt_string(block, "id", path), name, arguments, (*path, "input"), json_value=True)


def _tool_choice(choice: dict[str, Any] | None) -> ToolChoice | None:
    if choice is None:
        return None
    mode = S.string(choice.get("type"), ("tool_choice", "type"))
    if mode == "tool":
        return ToolChoice("tool", S.string(choice.get("name"), ("tool_choice", "name")))
    return ToolChoice("required" if mode == "any" else mode)
