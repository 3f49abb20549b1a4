"""The ``input.action`` document a policy sees for an LLM call.

Compact and stable: the same keys for every provider, counts so that rules need not iterate.

    {
      "protocol": "llm",
      "provider": "openai.chat" | "openai.responses" | "anthropic.messages",
      "operation": "chat",              # these three APIs all generate a model response
      "model": "gpt-4o-mini" | null,
      "stream": true,
      "max_tokens": 256 | null,         # max_completion_tokens / max_tokens / max_output_tokens
      "include_usage": false,           # OpenAI chat: stream_options.include_usage
      "logprobs": false,                # token log probabilities asked for (they repeat the output)
      "choices": 1,                     # OpenAI chat: n
      "system": {"length": 120, "text": "..."},
      "message_count": 3,
      "messages": [{"role": "user", "length": 5, "text": "hello"}, ...],
      "tool_count": 2,
      "tool_names": ["get_weather", "web_search"],
      "tools": [{"name": "get_weather", "type": "function"}, ...],
      "tool_choice": {"mode": "auto" | "none" | "required" | "tool", "name": "get_weather" | null} | null,
      "tool_call_count": 1,
      "tool_calls": [{"id": "call_1", "name": "get_weather"}],
      "tool_result_count": 1,
      "tool_results": [{"call_id": "call_1", "is_error": false, "length": 42, "text": "..."}]
    }

``messages`` are the user and assistant turns (their text parts joined with newlines); system
and developer instructions are in ``system``, what tools returned in ``tool_results`` and the
calls the model made in ``tool_calls``. With ``include_text=False`` every ``text`` is left out
(the lengths stay), for policies that only need the shape of a long conversation.
"""

from __future__ import annotations

from typing import Any

from ext_proc.protocols.llm.model import LlmRequest


def to_policy_input(request: LlmRequest, *, include_text: bool = True) -> dict[str, Any]:
    return {
        "protocol": "llm",
        "provider": request.provider,
        "operation": "chat",
        "model": request.model,
        "stream": request.stream,
        "max_tokens": request.max_tokens,
        "include_usage": request.include_usage,
        "logprobs": request.logprobs,
        "choices": request.choices,
        "system": _text({}, request.system, include_text),
        "message_count": len(request.messages),
        "messages": [_text({"role": m.role}, m.text, include_text) for m in request.messages],
        "tool_count": len(request.tools),
        "tool_names": [tool.name for tool in request.tools],
        "tools": [{"name": tool.name, "type": tool.type} for tool in request.tools],
        "tool_choice": (
            None
            if request.tool_choice is None
            else {"mode": request.tool_choice.mode, "name": request.tool_choice.name}
        ),
        "tool_call_count": len(request.tool_calls),
        "tool_calls": [{"id": call.id, "name": call.name} for call in request.tool_calls],
        "tool_result_count": len(request.tool_results),
        "tool_results": [
            _text({"call_id": result.call_id, "is_error": result.is_error}, result.text, include_text)
            for result in request.tool_results
        ],
    }


def _text(entry: dict[str, Any], text: str, include_text: bool) -> dict[str, Any]:
    entry["length"] = len(text)
    if include_text:
        entry["text"] = text
    return entry
