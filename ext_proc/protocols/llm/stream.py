"""The stream interpreter for a provider: one per streamed response, fed every ``SseEvent``."""

from __future__ import annotations

from ext_proc.protocols.llm.anthropic.stream import MessagesStream
from ext_proc.protocols.llm.model import Provider
from ext_proc.protocols.llm.openai_chat.stream import ChatStream
from ext_proc.protocols.llm.openai_responses.stream import ResponsesStream
from ext_proc.protocols.llm.stream_view import StreamInterpreter

_INTERPRETERS: dict[Provider, type[ChatStream | ResponsesStream | MessagesStream]] = {
    "openai.chat": ChatStream,
    "openai.responses": ResponsesStream,
    "anthropic.messages": MessagesStream,
}


def stream_interpreter(provider: Provider) -> StreamInterpreter:
    return _INTERPRETERS[provider]()
