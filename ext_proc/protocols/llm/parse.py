"""Parsing entry points: a request or a complete response of any supported provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ext_proc.protocols.llm.anthropic import request as anthropic_request
from ext_proc.protocols.llm.anthropic import response as anthropic_response
from ext_proc.protocols.llm.model import LlmRequest, LlmResponse, Provider
from ext_proc.protocols.llm.openai_chat import request as chat_request
from ext_proc.protocols.llm.openai_chat import response as chat_response
from ext_proc.protocols.llm.openai_responses import request as responses_request
from ext_proc.protocols.llm.openai_responses import response as responses_response
from ext_proc.protocols.llm.shapes import REQUEST, RESPONSE, Shapes

_REQUEST_PARSERS: dict[Provider, Callable[[dict[str, Any]], LlmRequest]] = {
    "openai.chat": chat_request.parse_request,
    "openai.responses": responses_request.parse_request,
    "anthropic.messages": anthropic_request.parse_request,
}
_RESPONSE_PARSERS: dict[Provider, Callable[[dict[str, Any]], LlmResponse]] = {
    "openai.chat": chat_response.parse_response,
    "openai.responses": responses_response.parse_response,
    "anthropic.messages": anthropic_response.parse_response,
}


def load_request(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The JSON object of a request body (``body_parse_error`` / ``llm_request_invalid`` otherwise)."""
    return _load(REQUEST, body)


def load_response(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The JSON object of a response body (``llm_response_invalid`` otherwise)."""
    return _load(RESPONSE, body)


def parse_request(provider: Provider, body: bytes | str | dict[str, Any]) -> LlmRequest:
    """What the request asks for, and every text in it with its location in the document."""
    return _REQUEST_PARSERS[provider](load_request(body))


def parse_response(provider: Provider, body: bytes | str | dict[str, Any]) -> LlmResponse:
    """A complete (non-streamed) response: its texts with their locations, tool calls and usage."""
    return _RESPONSE_PARSERS[provider](load_response(body))


def _load(shapes: Shapes, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    document = shapes.loads(body) if isinstance(body, bytes | str) else body
    return shapes.object(document, ())
