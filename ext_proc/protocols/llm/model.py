"""The provider-neutral view of an LLM API call: what was asked, what came back.

Every text a scanner must read is a ``TextField``: the text and its location in the JSON document
it came from, so that a redaction can be written back in place (``ext_proc.protocols.llm.document``)
without knowing the provider's format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Provider = Literal["openai.chat", "openai.responses", "anthropic.messages"]
PROVIDERS: tuple[Provider, ...] = ("openai.chat", "openai.responses", "anthropic.messages")

JsonPath = tuple[str | int, ...]

TextKind = Literal[
    "message",  # a user or assistant message, or a document block
    "system",  # system or developer instructions
    "tool_result",  # what a tool returned (the input of indirect prompt injection)
    "tool_arguments",  # the arguments of a tool call, usually JSON text
    "tool_description",  # a tool definition's description
    "refusal",  # a model's refusal text
    "reasoning",  # thinking or reasoning summaries produced by the model
]


@dataclass(frozen=True, slots=True)
class TextField:
    """One text of a document and where it is.

    ``path`` leads from the document's root to a string value; when ``json_value`` is true, the
    value at ``path`` is a JSON object (Anthropic ``tool_use.input``) and ``text`` is its
    serialization: a replacement text must then be valid JSON, and is written back parsed.
    ``channel`` names the output stream a response text belongs to, with the same key as the
    streamed events (``ext_proc.protocols.llm.stream``); it is empty for request texts.
    """

    path: JsonPath
    role: str
    kind: TextKind
    text: str
    json_value: bool = False
    channel: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """A message of the conversation; ``text`` joins its text parts with newlines."""

    role: str
    text: str


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool offered to the model. Built-in tools without a name are named by their type."""

    name: str
    type: str
    description: str
    parameters: Any  # the JSON schema, or None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call made by the model, as it appears in the history of a request or in a response."""

    id: str | None
    name: str
    arguments: str  # JSON text (or free text for custom tools)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned, sent back to the model."""

    call_id: str | None
    text: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``mode`` is "auto", "none", "required" (Anthropic "any"), or "tool" with ``name``."""

    mode: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reports them.

    ``input_tokens`` counts every prompt token, cached ones included (Anthropic reports cache
    reads and writes apart from ``input_tokens``; they are added here so that the number means
    the same as OpenAI's). ``cached_input_tokens`` is the part read from a cache.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class LlmRequest:
    provider: Provider
    model: str | None
    stream: bool
    max_tokens: int | None
    messages: tuple[Message, ...]
    system: str  # the system and developer texts, joined with newlines
    tools: tuple[ToolDefinition, ...]
    tool_choice: ToolChoice | None
    tool_calls: tuple[ToolCall, ...]
    tool_results: tuple[ToolResult, ...]
    texts: tuple[TextField, ...]
    include_usage: bool = False  # OpenAI chat: stream_options.include_usage
    logprobs: bool = False  # token log probabilities asked for: they repeat the output text
    choices: int = 1  # OpenAI chat: n


@dataclass(frozen=True, slots=True)
class LlmResponse:
    """A complete (non-streamed) response."""

    provider: Provider
    model: str | None
    texts: tuple[TextField, ...]
    tool_calls: tuple[ToolCall, ...]
    usage: Usage | None
    stop_reasons: tuple[str, ...]  # per choice (OpenAI chat), else one
