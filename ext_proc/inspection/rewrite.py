"""Least privilege by rewriting: the policy's ``rewrite`` applied to the recognized action.

LLM calls: pin the model, cap the output tokens, remove tool definitions (keeping the tool
choice consistent). MCP ``tools/call``: pin arguments to fixed values. Each rewrite returns the
new document, or the same object when nothing changed (then the body is sent as it came).
"""

from __future__ import annotations

from typing import Any

from ext_proc.inspection.request_model import LLM, MCP, InspectedRequest
from ext_proc.policy.directives import Rewrite
from ext_proc.protocols import mcp
from ext_proc.protocols.llm import cap_max_tokens, pin_model, remove_tools


def apply_rewrite(request: InspectedRequest, rewrite: Rewrite, *, index: int | None = None) -> Any:
    """The rewritten document (``is request.document`` when the rewrite changes nothing).
    ``index``: the call of a batch the rewrite is for (a decision is about one call)."""
    if not rewrite:
        return request.document
    if request.protocol == LLM and request.provider is not None:
        return _llm(request.provider, request.document, rewrite)
    if request.protocol == MCP and request.mcp_body is not None and rewrite.tool_arguments:
        return _mcp(request.mcp_body, request.document, rewrite.tool_arguments, index)
    return request.document


def _llm(provider: Any, document: Any, rewrite: Rewrite) -> Any:
    if rewrite.model:
        document = pin_model(document, rewrite.model)
    if rewrite.max_tokens:
        document = cap_max_tokens(provider, document, rewrite.max_tokens)
    if rewrite.remove_tools:
        document = remove_tools(provider, document, rewrite.remove_tools)
    return document


def _mcp(body: mcp.McpRequestBody, document: Any, pinned: Any, only: int | None) -> Any:
    messages = list(document) if body.batch else [document]
    changed = False
    for index, call in enumerate(body.calls):
        if call.method == mcp.TOOLS_CALL and (only is None or index == only):
            # The params as they are now (redacted), not as they came.
            params = messages[index].get("params") or {}
            messages[index] = {**messages[index], "params": mcp.pin_arguments(params, pinned)}
            changed = True
    if not changed:
        return document
    return messages if body.batch else messages[0]
