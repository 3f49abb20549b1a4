"""LLM API traffic: OpenAI Chat Completions, OpenAI Responses and Anthropic Messages.

Requests are parsed into a provider-neutral ``LlmRequest`` (``parse_request``) whose texts carry
their JSON location, summarized for policies (``to_policy_input``) and rewritten as documents
(``pin_model``, ``cap_max_tokens``, ``remove_tools``, ``replace_texts``). Complete responses are
parsed likewise (``parse_response``, ``strip_logprobs``); streamed ones go through a per-stream interpreter
(``stream_interpreter``) that reads each SSE event and rebuilds it with replaced texts.
"""

from ext_proc.protocols.llm.detect import detect_provider
from ext_proc.protocols.llm.document import get_at, replace_at, replace_texts, set_at
from ext_proc.protocols.llm.model import (
    PROVIDERS,
    JsonPath,
    LlmRequest,
    LlmResponse,
    Message,
    Provider,
    TextField,
    TextKind,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolResult,
    Usage,
)
from ext_proc.protocols.llm.parse import load_request, load_response, parse_request, parse_response
from ext_proc.protocols.llm.policy import to_policy_input
from ext_proc.protocols.llm.rewrite import cap_max_tokens, pin_model, remove_tools, strip_logprobs
from ext_proc.protocols.llm.stream import stream_interpreter
from ext_proc.protocols.llm.stream_view import StreamError, StreamEventView, StreamInterpreter, StreamText

__all__ = [
    "PROVIDERS",
    "JsonPath",
    "LlmRequest",
    "LlmResponse",
    "Message",
    "Provider",
    "StreamError",
    "StreamEventView",
    "StreamInterpreter",
    "StreamText",
    "TextField",
    "TextKind",
    "ToolCall",
    "ToolChoice",
    "ToolDefinition",
    "ToolResult",
    "Usage",
    "cap_max_tokens",
    "detect_provider",
    "get_at",
    "load_request",
    "load_response",
    "parse_request",
    "parse_response",
    "pin_model",
    "remove_tools",
    "replace_at",
    "replace_texts",
    "set_at",
    "stream_interpreter",
    "strip_logprobs",
    "to_policy_input",
]
