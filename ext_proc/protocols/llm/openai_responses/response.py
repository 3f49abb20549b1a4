"""Responses response bodies (``object: "response"``): the texts of ``output[]`` and the usage."""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm.model import LlmResponse, TextField, ToolCall
from ext_proc.protocols.llm.openai_responses.items import item_texts, item_tool_call, usage
from ext_proc.protocols.llm.shapes import RESPONSE as S


def parse_response(doc: dict[str, Any]) -> LlmResponse:
    texts: list[TextField] = []
    calls: list[ToolCall] = []
    for x, item in S.objects(doc, "output", ()):
        texts.extend(item_texts(S, item, ("output", x), x))
        call = item_tool_call(S, item, ("output", x))
        if call is not None:
            calls.append(call)
    return LlmResponse(
        provider="openai.responses",
        model=S.opt_string(doc, "model", ()),
        texts=tuple(texts),
        tool_calls=tuple(calls),
        usage=usage(S, doc.get("usage"), ("usage",)),
        stop_reasons=(stop_reason(doc),),
    )


def stop_reason(doc: dict[str, Any]) -> str:
    """The status, or why the response is incomplete (``max_output_tokens``, ``content_filter``)."""
    details = doc.get("incomplete_details")
    if isinstance(details, dict) and isinstance(details.get("reason"), str):
        return str(details["reason"])
    status = doc.get("status")
    return status if isinstance(status, str) else ""
