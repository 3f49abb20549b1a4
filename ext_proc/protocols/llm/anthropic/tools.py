"""Removing tool definitions from a Messages request, keeping the request acceptable.

A ``tool_choice`` of ``{"type": "tool", "name": ...}`` naming a removed tool becomes ``auto``
(keeping ``disable_parallel_tool_use``); when no tool remains ``tools`` and ``tool_choice`` go.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def remove_tools(doc: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    tools = doc.get("tools")
    if not isinstance(tools, list):
        return doc
    kept = [tool for tool in tools if _name(tool) not in names]
    if len(kept) == len(tools):
        return doc
    out = dict(doc)
    if not kept:
        out.pop("tools", None)
        out.pop("tool_choice", None)
        return out
    out["tools"] = kept
    choice = out.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and _name(choice) in names:
        rest = {key: value for key, value in choice.items() if key not in ("type", "name")}
        out["tool_choice"] = {"type": "auto", **rest}
    return out


def _name(tool: Any) -> str | None:
    name = tool.get("name") if isinstance(tool, dict) else None
    return name if isinstance(name, str) else None
