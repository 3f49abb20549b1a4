"""The shapes of an inspected request: its texts to scan, its calls, what the policy sees of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ext_proc.protocols import a2a, mcp
from ext_proc.protocols.llm import LlmRequest, Provider

LLM = "llm"
MCP = "mcp"
A2A = "a2a"

# Who wrote a text (``ScanText.source``).
USER = "user"  # the agent's user, or the calling agent (direct injection)
TOOL_RESULT = "tool_result"  # a tool's output fed back to a model (indirect injection)
OTHER = "other"  # assistant turns, system prompts, tool definitions, arguments, plain bodies
INJECTION_SOURCES = {USER: "direct", TOOL_RESULT: "indirect"}

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ScanText:
    path: Path  # in the parsed document; () is the whole (non-JSON) body
    text: str
    source: str
    kind: str
    json_value: bool = False  # the value at path is JSON whose serialization is `text`
    # Texts with the same group (and source) are also scanned joined, in document order: the
    # parts of one message (texts.py). None: read alone.
    group: Path | None = None
    is_key: bool = False  # `text` is the key of the value at `path`, not the value


@dataclass(frozen=True, slots=True)
class Call:
    """One action of a request, decided on its own: the whole body, or one message of a batch."""

    index: int | None  # its place in a batch; None when the body is one message
    action: Any  # its input.action
    texts: tuple[ScanText, ...]


@dataclass(frozen=True, slots=True)
class InspectedRequest:
    protocol: str | None  # "llm", "mcp", "a2a", or None for plain HTTP
    document: Any  # the parsed JSON body; None for a text body
    text: str | None  # the body as text, for a body that is not JSON
    action: Any  # input.action (an object, or an array for a JSON-RPC batch); None if unrecognized
    texts: tuple[ScanText, ...]
    provider: Provider | None = None
    llm: LlmRequest | None = None
    mcp_body: mcp.McpRequestBody | None = None
    a2a_body: a2a.A2aRequestBody | None = None
    # How the body was recognized: the route's declared protocol, or None (by content).
    declared: str | None = None
    calls: tuple[Call, ...] = ()

    @property
    def batch(self) -> bool:
        return any(call.index is not None for call in self.calls)

    @property
    def units(self) -> tuple[Call, ...]:
        """The actions to decide: the calls of a batch, else the whole request as one."""
        return self.calls or (Call(None, self.action, self.texts),)
