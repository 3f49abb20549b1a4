"""Decision fields that act on what Chaperone recognized in a body (Chaperone's own additions).

- ``sensitive_data``: per finding type (or category, ``pii`` or ``secret``), what to do with
  sensitive data found in this request and in its response:
  ``{"default": "redact", "EMAIL": "allow", "secret": "block"}``. Actions:
  ``allow`` (leave it), ``redact`` (replace it with ``[REDACTED:<TYPE>]``), ``block`` (refuse
  the request, or end the response stream) and ``end_stream`` (like block; for a response it
  says the stream is cut where the finding is).
- ``rewrite``: least privilege by rewriting the recognized action before it leaves:
  ``{"model": "gpt-4o-mini", "max_tokens": 512, "remove_tools": ["delete_user"],
  "tool_arguments": {"dry_run": true}}`` (the last pins arguments of an MCP ``tools/call``).
- ``injection``: ``"strip"`` removes, from the texts where prompt-injection signals were found,
  hidden content (zero-width and bidi characters, hidden markup) and the sentences or lines that
  carry the injected instruction (``scanning.injection_strip``); ``"keep"`` (the default) leaves
  them. Blocking is a plain deny (``allowed: false``), flagging an allow with ``reasons``.

Each field is checked here, with errors that name the field (code ``decision_invalid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ext_proc.errors import ChaperoneError, ErrorCode

ACTIONS = ("allow", "redact", "block", "end_stream")
DEFAULT_KEY = "default"
INJECTION_ACTIONS = ("keep", "strip")


def _invalid(message: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.DECISION_INVALID, f"decision field {message}")


def parse_sensitive_data(value: Any) -> Mapping[str, str] | None:
    """``{TYPE or "default": action}``; None when the decision says nothing."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(f"sensitive_data: expected object, got {type(value).__name__}")
    table: dict[str, str] = {}
    for key, action in value.items():
        if action not in ACTIONS:
            raise _invalid(f"sensitive_data.{key}: expected one of {', '.join(ACTIONS)}")
        table[str(key)] = action
    return table


@dataclass(frozen=True, slots=True)
class Rewrite:
    model: str | None = None
    max_tokens: int | None = None
    remove_tools: tuple[str, ...] = ()
    tool_arguments: Mapping[str, Any] | None = None

    def __bool__(self) -> bool:
        return bool(self.model or self.max_tokens or self.remove_tools or self.tool_arguments)


NO_REWRITE = Rewrite()
_REWRITE_KEYS = frozenset({"model", "max_tokens", "remove_tools", "tool_arguments"})


def parse_rewrite(value: Any) -> Rewrite:
    if value is None:
        return NO_REWRITE
    if not isinstance(value, dict):
        raise _invalid(f"rewrite: expected object, got {type(value).__name__}")
    unknown = set(value) - _REWRITE_KEYS
    if unknown:
        raise _invalid(f"rewrite: unknown key {sorted(unknown)[0]!r}")
    model = value.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise _invalid("rewrite.model: expected a non-empty string")
    max_tokens = value.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise _invalid("rewrite.max_tokens: expected a positive integer")
    remove = value.get("remove_tools", [])
    if not isinstance(remove, list) or not all(isinstance(name, str) for name in remove):
        raise _invalid("rewrite.remove_tools: expected an array of strings")
    arguments = value.get("tool_arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise _invalid("rewrite.tool_arguments: expected object")
    return Rewrite(model=model, max_tokens=max_tokens, remove_tools=tuple(remove), tool_arguments=arguments)


def parse_injection(value: Any) -> str:
    if value is None:
        return "keep"
    if value not in INJECTION_ACTIONS:
        raise _invalid(f'injection: expected "keep" or "strip", got {type(value).__name__}')
    return str(value)
