"""Removing tool definitions from a Responses request, keeping the request acceptable.

Tools are named by ``name`` (function and custom tools) or, for the built-in tools, by their
``type`` (``web_search``, ``file_search``, ``code_interpreter``, ``mcp``...). A ``tool_choice``
that forces a removed tool is dropped, an ``allowed_tools`` choice loses the removed tools, and
when no tool remains ``tools`` and ``tool_choice`` go.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ext_proc.protocols.llm.openai_responses.request import tool_name


def remove_tools(doc: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    tools = doc.get("tools")
    if not isinstance(tools, list):
        return doc
    kept = [tool for tool in tools if not _named(tool, names)]
    if len(kept) == len(tools):
        return doc
    out = dict(doc)
    if not kept:
        out.pop("tools", None)
        out.pop("tool_choice", None)
        return out
    out["tools"] = kept
    choice = out.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "allowed_tools":
            listed = choice.get("tools")
            allowed = [tool for tool in listed if not _named(tool, names)] if isinstance(listed, list) else []
            if allowed:
                out["tool_choice"] = {**choice, "tools": allowed}
            else:
                del out["tool_choice"]
        elif _named(choice, names):
            del out["tool_choice"]
    return out


def _named(tool: Any, names: Collection[str]) -> bool:
    return isinstance(tool, dict) and tool_name(tool) in names
