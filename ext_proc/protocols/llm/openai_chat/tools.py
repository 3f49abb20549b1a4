"""Removing tool definitions from a Chat Completions request, keeping the request acceptable.

The API refuses a ``tool_choice`` that names a tool it was not given, an empty ``tools`` array,
and ``tool_choice`` or ``parallel_tool_calls`` without tools; so a forced choice of a removed
tool is dropped (the model then chooses among the remaining tools), an ``allowed_tools`` choice
loses the removed names, and when no tool remains every tool field goes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

_TOOL_FIELDS = ("tools", "functions", "tool_choice", "function_call", "parallel_tool_calls")


def tool_name(tool: Any) -> str | None:
    """The name of a ``tools[]`` entry (function or custom) or of a legacy ``functions[]`` entry."""
    if not isinstance(tool, dict):
        return None
    tool_type = tool.get("type", "function")
    inner = tool.get(tool_type, tool) if isinstance(tool_type, str) else None
    name = inner.get("name") if isinstance(inner, dict) else None
    return name if isinstance(name, str) else None


def remove_tools(doc: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    out = dict(doc)
    removed = False
    remaining = 0
    for key in ("tools", "functions"):
        tools = out.get(key)
        if isinstance(tools, list):
            kept = [tool for tool in tools if tool_name(tool) not in names]
            removed = removed or len(kept) != len(tools)
            remaining += len(kept)
            out[key] = kept
    if not removed:
        return doc
    if not remaining:
        for key in _TOOL_FIELDS:
            out.pop(key, None)
        return out
    for key in ("tools", "functions"):
        if out.get(key) == []:
            del out[key]
    _fix_choice(out, names)
    return out


def _fix_choice(out: dict[str, Any], names: Collection[str]) -> None:
    choice = out.get("tool_choice")
    if isinstance(choice, dict):
        choice_type = choice.get("type")
        if choice_type in ("function", "custom") and tool_name(choice) in names:
            del out["tool_choice"]
        elif choice_type == "allowed_tools" and isinstance(choice.get("allowed_tools"), dict):
            allowed = choice["allowed_tools"]
            kept = [tool for tool in _list(allowed.get("tools")) if tool_name(tool) not in names]
            if kept:
                out["tool_choice"] = {**choice, "allowed_tools": {**allowed, "tools": kept}}
            else:
                del out["tool_choice"]
    legacy = out.get("function_call")
    if isinstance(legacy, dict) and tool_name(legacy) in names:
        del out["function_call"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
