"""Chat Completions streams (``object: "chat.completion.chunk"``, one JSON chunk per ``data:``).

Each chunk's ``choices[]`` carry a ``delta`` for the choice with that ``index``: ``content``,
``refusal``, ``audio.transcript``, ``tool_calls[]`` (each with its own ``index``; the first
delta of a call has its id and name, later ones only ``function.arguments`` pieces) or the
legacy ``function_call``. A ``finish_reason`` ends the choice, and a tool call ends when the
next one starts (they stream one after the other, and clients may act on a call as soon as the
next begins). With
``stream_options.include_usage`` a last chunk with no choices carries ``usage``.
``data: [DONE]`` ends the stream. A chunk with an ``error`` object instead of choices is an
error, which openai-python raises as ``APIError`` (its ``Stream`` checks every chunk for an
``error`` key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ext_proc.protocols.llm import channels
from ext_proc.protocols.llm.model import JsonPath, Provider, TextKind
from ext_proc.protocols.llm.openai_chat.response import usage
from ext_proc.protocols.llm.shapes import RESPONSE as S
from ext_proc.protocols.llm.stream_view import (
    BaseInterpreter,
    StreamError,
    StreamEventView,
    StreamText,
    dumps,
    load_event,
)
from ext_proc.protocols.sse import SseEvent, make_event

DONE = "[DONE]"
DEFAULT_ERROR_TYPE = "chaperone_error"
# Top-level chunk fields that describe one chunk, not the stream: a synthetic chunk omits them.
_PER_CHUNK = frozenset({"choices", "usage", "obfuscation"})

# The delta keys that carry a choice's text, the kind of that text and its channel. Compatible
# servers (DeepSeek, vLLM, OpenRouter...) stream reasoning text beside the content.
_TEXT_KEYS: tuple[tuple[str, TextKind, Callable[[int], str]], ...] = (
    ("content", "message", channels.chat_content),
    ("refusal", "refusal", channels.chat_refusal),
    ("reasoning_content", "reasoning", lambda choice: channels.chat_reasoning(choice, "reasoning_content")),
    ("reasoning", "reasoning", lambda choice: channels.chat_reasoning(choice, "reasoning")),
)


_TEXT_FIELDS = frozenset(key for key, _, _ in _TEXT_KEYS)


class ChatStream(BaseInterpreter):
    provider: ClassVar[Provider] = "openai.chat"

    def __init__(self) -> None:
        super().__init__()
        self._last_chunk: dict[str, Any] = {"object": "chat.completion.chunk"}

    def interpret(self, event: SseEvent) -> StreamEventView:
        if event.data.strip() == DONE:
            # The SDKs stop reading at any data that starts with it; whatever follows would be
            # read by no scanner, so anything but the marker alone is read as a chunk (and fails).
            return StreamEventView(event, closed=self._close_all(), done=True)
        doc = load_event(event)
        error = doc.get("error")
        if error:
            return StreamEventView(event, error=_error(error), data=doc)
        self._last_chunk = doc  # its header fields, for a synthetic chunk (read only then)
        texts: list[StreamText] = []
        closed: list[str] = []
        for pos, choice in S.objects(doc, "choices", ()):
            self._choice(choice, ("choices", pos), texts, closed)
        return StreamEventView(
            event,
            texts=tuple(texts),
            closed=tuple(closed),
            usage=usage(S, doc.get("usage"), ("usage",)),
            model=S.opt_string(doc, "model", ()),
            data=doc,
        )

    def _choice(
        self, choice: dict[str, Any], path: JsonPath, texts: list[StreamText], closed: list[str]
    ) -> None:
        index = S.opt_int(choice, "index", path) or 0
        delta = S.opt_object(choice, "delta", path) or {}
        scrub = ((*path, "logprobs"), None) if choice.get("logprobs") else None
        where = (*path, "delta")
        for key, kind, name in _TEXT_KEYS:
            text = delta.get(key)
            if text is not None and type(text) is not str:
                S.fail((*where, key), "string", text)
            if text:
                channel = name(index)
                self._opened(channel, (index, key, None))
                texts.append(StreamText(channel, kind, text, False, (*where, key), scrub))
        audio = S.opt_object(delta, "audio", where) if "audio" in delta else None
        transcript = S.opt_string(audio, "transcript", (*where, "audio")) if audio else None
        if transcript:
            # Audio output streams its transcript beside the audio data (gpt-4o-audio).
            channel = channels.chat_audio_transcript(index)
            self._opened(channel, (index, "audio", None))
            texts.append(
                StreamText(channel, "message", transcript, False, (*where, "audio", "transcript"), scrub)
            )
        pieces: list[StreamText | None] = []
        for tpos, call in S.objects(delta, "tool_calls", where) if "tool_calls" in delta else ():
            ended, piece = self._tool_call(call, index, (*where, "tool_calls", tpos), scrub)
            closed.extend(ended)
            pieces.append(piece)
        function_call = S.opt_object(delta, "function_call", where) if "function_call" in delta else None
        if function_call is not None:
            channel = channels.chat_function_arguments(index)
            self._opened(channel, (index, "function_call", None))
            pieces.append(_argument(function_call, (*where, "function_call", "arguments"), channel, scrub))
        if pieces:
            texts.extend(piece for piece in pieces if piece is not None)
        if choice.get("finish_reason") is not None:
            prefix = channels.chat_choice_prefix(index)
            closed.extend(self._close([channel for channel in self._open if channel.startswith(prefix)]))

    def _tool_call(
        self, call: dict[str, Any], index: int, path: JsonPath, scrub: tuple[JsonPath, Any] | None
    ) -> tuple[tuple[str, ...], StreamText | None]:
        """The arguments piece of one tool call's delta, and the earlier calls that it ends."""
        call_index = S.opt_int(call, "index", path) or 0
        tool_type = "custom" if call.get("type") == "custom" or "custom" in call else "function"
        channel = channels.chat_tool_arguments(index, call_index)
        ended: tuple[str, ...] = ()
        if channel not in self._known:
            # Tool calls stream one after the other: a new call ends the previous ones, and
            # clients may take a call as complete when the next one starts.
            prefix = channels.chat_tool_call_prefix(index)
            ended = self._close(
                [open_channel for open_channel in self._open if open_channel.startswith(prefix)]
            )
        self._opened(channel, (index, tool_type, call_index))
        key = "input" if tool_type == "custom" else "arguments"
        return ended, _argument(S.opt_object(call, tool_type, path), (*path, tool_type, key), channel, scrub)

    def extra_delta(self, channel: str, text: str, like: SseEvent) -> SseEvent:
        """A chunk with the fields (id, created, model...) of the last chunk and one delta.

        The channel's spec is (choice index, delta key or tool type, tool call index).
        """
        index, kind, call_index = self._spec(channel)
        delta: dict[str, Any]
        if kind in _TEXT_FIELDS:
            delta = {kind: text}
        elif kind == "function_call":
            delta = {"function_call": {"arguments": text}}
        elif kind == "audio":
            delta = {"audio": {"transcript": text}}
        else:
            key = "input" if kind == "custom" else "arguments"
            delta = {"tool_calls": [{"index": call_index, kind: {key: text}}]}
        chunk = {key: value for key, value in self._last_chunk.items() if key not in _PER_CHUNK}
        chunk["choices"] = [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]
        return make_event(dumps(chunk), event=like.event)

    def error_events(self, message: str, code: str, *, error_type: str | None = None) -> bytes:
        error = {"message": message, "type": error_type or DEFAULT_ERROR_TYPE, "param": None, "code": code}
        return make_event(dumps({"error": error})).raw


def _argument(
    function: dict[str, Any] | None, path: JsonPath, channel: str, scrub: tuple[JsonPath, Any] | None
) -> StreamText | None:
    """The arguments piece at ``path`` (its last key inside ``function``), when there is one."""
    if function is None:
        return None
    text = S.opt_string(function, str(path[-1]), path[:-1])
    return StreamText(channel, "tool_arguments", text, False, path, scrub) if text else None


def _error(value: Any) -> StreamError:
    if not isinstance(value, dict):
        return StreamError(str(value))
    message, code, kind = value.get("message"), value.get("code"), value.get("type")
    return StreamError(
        message if isinstance(message, str) else "",
        str(code) if code is not None else None,
        kind if isinstance(kind, str) else None,
    )
