"""Rewrites a policy can ask for, as pure functions on the parsed JSON document.

Each returns a new document (the input is never changed; untouched values are shared) or the
same document when there is nothing to change, so ``new is doc`` tells whether to re-encode.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from ext_proc.protocols.llm.anthropic import tools as anthropic_tools
from ext_proc.protocols.llm.model import Provider
from ext_proc.protocols.llm.openai_chat import tools as chat_tools
from ext_proc.protocols.llm.openai_responses import tools as responses_tools

# Chat Completions reads max_completion_tokens, and max_tokens from older clients (both when
# both are there); a cap is added as the current field.
_MAX_TOKENS_FIELDS: dict[Provider, tuple[str, ...]] = {
    "openai.chat": ("max_completion_tokens", "max_tokens"),
    "openai.responses": ("max_output_tokens",),
    "anthropic.messages": ("max_tokens",),
}
_TOOL_REMOVERS: dict[Provider, Callable[[dict[str, Any], Collection[str]], dict[str, Any]]] = {
    "openai.chat": chat_tools.remove_tools,
    "openai.responses": responses_tools.remove_tools,
    "anthropic.messages": anthropic_tools.remove_tools,
}


def pin_model(doc: dict[str, Any], model: str) -> dict[str, Any]:
    """The same request for ``model`` (the field is ``model`` for every provider)."""
    if doc.get("model") == model:
        return doc
    return {**doc, "model": model}


def cap_max_tokens(provider: Provider, doc: dict[str, Any], limit: int) -> dict[str, Any]:
    """The output token limit lowered to ``limit`` (set when the request has none)."""
    fields = _MAX_TOKENS_FIELDS[provider]
    present = [key for key in fields if doc.get(key) is not None]
    changes = {key: limit for key in present if not _within(doc[key], limit)}
    if not present:
        changes[fields[0]] = limit
    return {**doc, **changes} if changes else doc


def remove_tools(provider: Provider, doc: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    """The request without the named tools, its ``tool_choice`` kept consistent."""
    return _TOOL_REMOVERS[provider](doc, frozenset(names))


def _within(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value <= limit


def strip_logprobs(provider: Provider, response: dict[str, Any]) -> dict[str, Any]:
    """A complete response without token log probabilities, which spell out the original text:
    to apply with any text replacement (the stream interpreters drop them from changed events)."""
    if provider == "openai.chat":
        return _map_list(response, "choices", _chat_choice)
    if provider == "openai.responses":
        return _map_list(response, "output", _responses_item)
    return response


def _chat_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("logprobs"):
        return {**choice, "logprobs": None}
    return choice


def _responses_item(item: Any) -> Any:
    return _map_list(item, "content", _responses_part) if isinstance(item, dict) else item


def _responses_part(part: Any) -> Any:
    if isinstance(part, dict) and part.get("logprobs"):
        return {**part, "logprobs": []}
    return part


def _map_list(parent: dict[str, Any], key: str, change: Callable[[Any], Any]) -> dict[str, Any]:
    """``parent`` with ``change`` applied to each element of its list at ``key`` (or itself)."""
    values = parent.get(key)
    if not isinstance(values, list):
        return parent
    changed = [change(value) for value in values]
    if all(new is old for new, old in zip(changed, values, strict=True)):
        return parent
    return {**parent, key: changed}
