"""What a request parser gathers while it walks a document, turned into an ``LlmRequest`` at the end."""

from __future__ import annotations

from ext_proc.protocols.llm.model import (
    JsonPath,
    LlmRequest,
    Message,
    Provider,
    TextField,
    TextKind,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolResult,
)


class RequestParts:
    def __init__(self) -> None:
        self.texts: list[TextField] = []
        self.messages: list[Message] = []
        self.system: list[str] = []
        self.tools: list[ToolDefinition] = []
        self.tool_calls: list[ToolCall] = []
        self.tool_results: list[ToolResult] = []

    def text(self, path: JsonPath, role: str, kind: TextKind, text: str) -> str:
        self.texts.append(TextField(path, role, kind, text))
        return text

    def message(self, role: str, texts: list[str]) -> None:
        self.messages.append(Message(role, "\n".join(texts)))

    def tool(self, name: str, type: str, description: str | None, parameters: object, path: JsonPath) -> None:
        """A tool definition; ``path`` locates its description, when it has one."""
        if description:
            self.text(path, "tool", "tool_description", description)
        self.tools.append(ToolDefinition(name, type, description or "", parameters))

    def tool_call(
        self, call_id: str | None, name: str, arguments: str, path: JsonPath, *, json_value: bool = False
    ) -> None:
        self.texts.append(TextField(path, "assistant", "tool_arguments", arguments, json_value))
        self.tool_calls.append(ToolCall(call_id, name, arguments))

    def build(
        self,
        provider: Provider,
        *,
        model: str | None,
        stream: bool,
        max_tokens: int | None,
        tool_choice: ToolChoice | None,
        include_usage: bool = False,
        logprobs: bool = False,
        choices: int = 1,
    ) -> LlmRequest:
        return LlmRequest(
            provider=provider,
            model=model,
            stream=stream,
            max_tokens=max_tokens,
            messages=tuple(self.messages),
            system="\n".join(self.system),
            tools=tuple(self.tools),
            tool_choice=tool_choice,
            tool_calls=tuple(self.tool_calls),
            tool_results=tuple(self.tool_results),
            texts=tuple(self.texts),
            include_usage=include_usage,
            logprobs=logprobs,
            choices=choices,
        )
