"""Messages streams (https://docs.anthropic.com/en/docs/build-with-claude/streaming).

Every event has an SSE ``event:`` name equal to its data's ``type`` (anthropic-python skips
events without a name): ``message_start`` (the model and the input usage), then per content
block ``content_block_start`` / ``content_block_delta``* / ``content_block_stop``, then
``message_delta`` (stop reason, cumulative output usage) and ``message_stop``; ``ping`` at any
time. Deltas are ``text_delta`` (``text``), ``input_json_delta`` (``partial_json``, pieces of the
tool input's JSON text) and ``thinking_delta`` (``thinking``; changing it breaks the block's
signature, so the next turn that replays it is refused). ``event: error`` carries
``{"type": "error", "error": {"type", "message"}}``, on which anthropic-python raises an
``APIStatusError`` whose message includes the error body.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ext_proc.protocols.llm import channels
from ext_proc.protocols.llm.anthropic.response import usage
from ext_proc.protocols.llm.model import Provider, TextKind, Usage
from ext_proc.protocols.llm.shapes import RESPONSE as S
from ext_proc.protocols.llm.stream_view import (
    BaseInterpreter,
    StreamError,
    StreamEventView,
    StreamText,
    check_event_name,
    dumps,
    load_event,
)
from ext_proc.protocols.sse import SseEvent, make_event

DEFAULT_ERROR_TYPE = "api_error"
# Content block type -> the kind of its text, and the delta that extends it: (delta type, key).
_BLOCKS: dict[str, tuple[TextKind, str, str]] = {
    "text": ("message", "text_delta", "text"),
    "thinking": ("reasoning", "thinking_delta", "thinking"),
    "tool_use": ("tool_arguments", "input_json_delta", "partial_json"),
    "server_tool_use": ("tool_arguments", "input_json_delta", "partial_json"),
    "mcp_tool_use": ("tool_arguments", "input_json_delta", "partial_json"),
}
_DELTA_KEYS = {delta_type: key for _, delta_type, key in _BLOCKS.values()}
# A delta for a block that never started, or whose type has no text of its own, still streams
# on its block's channel, as the kind of text its delta type carries.
_BY_DELTA = {spec[1]: spec for spec in (_BLOCKS["text"], _BLOCKS["thinking"], _BLOCKS["tool_use"])}


class MessagesStream(BaseInterpreter):
    provider: ClassVar[Provider] = "anthropic.messages"

    def __init__(self) -> None:
        super().__init__()
        self._usage = Usage()
        self._blocks: dict[int, str] = {}  # content block index -> block type

    def interpret(self, event: SseEvent) -> StreamEventView:
        doc = load_event(event)
        event_type = S.opt_string(doc, "type", ())
        check_event_name(event, event_type)
        if event_type == "content_block_delta":
            return self._delta(event, doc)
        if event_type == "content_block_start":
            return self._start(event, doc)
        if event_type == "content_block_stop":
            index = S.opt_int(doc, "index", ()) or 0
            return StreamEventView(event, closed=self._close([channels.anthropic_block(index)]), data=doc)
        if event_type == "message_start":
            message = S.opt_object(doc, "message", ()) or {}
            model = S.opt_string(message, "model", ("message",))
            return StreamEventView(
                event, usage=self._merge(message.get("usage"), ("message", "usage")), model=model, data=doc
            )
        if event_type == "message_delta":
            return StreamEventView(event, usage=self._merge(doc.get("usage"), ("usage",)), data=doc)
        if event_type == "message_stop":
            return StreamEventView(event, closed=self._close_all(), done=True, data=doc)
        if event_type == "error":
            return StreamEventView(event, error=_error(doc.get("error")), data=doc)
        return StreamEventView(event, data=doc)  # ping, and event types this version does not know

    def _start(self, event: SseEvent, doc: dict[str, Any]) -> StreamEventView:
        index = S.opt_int(doc, "index", ()) or 0
        block = S.opt_object(doc, "content_block", ()) or {}
        block_type = S.opt_string(block, "type", ("content_block",)) or ""
        self._blocks[index] = block_type
        spec = _BLOCKS.get(block_type)
        if spec is None:
            return StreamEventView(event, data=doc)
        channel = channels.anthropic_block(index)
        self._opened(channel, (index, spec))
        text = block.get(spec[2]) if block_type in ("text", "thinking") else None
        if not isinstance(text, str) or not text:
            return StreamEventView(event, data=doc)
        # A block may start with some text: the SDKs take it as the block's first piece.
        piece = StreamText(channel, spec[0], text, False, ("content_block", spec[2]))
        return StreamEventView(event, texts=(piece,), data=doc)

    def _delta(self, event: SseEvent, doc: dict[str, Any]) -> StreamEventView:
        index = S.opt_int(doc, "index", ()) or 0
        delta = S.opt_object(doc, "delta", ()) or {}
        delta_type = S.opt_string(delta, "type", ("delta",)) or ""
        key = _DELTA_KEYS.get(delta_type)
        if key is None:
            # Signature and citation deltas: not a text stream; their strings are read with the
            # event's other strings.
            return StreamEventView(event, data=doc)
        spec = _BLOCKS.get(self._blocks.get(index, "")) or _BY_DELTA[delta_type]
        text = S.opt_string(delta, key, ("delta",))
        if not text:
            return StreamEventView(event, data=doc)
        channel = channels.anthropic_block(index)
        self._opened(channel, (index, spec))
        return StreamEventView(
            event, texts=(StreamText(channel, spec[0], text, False, ("delta", key)),), data=doc
        )

    def _merge(self, value: Any, path: tuple[str, ...]) -> Usage | None:
        """The usage known so far: ``message_delta`` repeats only what changed."""
        reported = usage(S, value, path)
        if reported is None:
            return None
        known = self._usage
        self._usage = Usage(
            reported.input_tokens if reported.input_tokens is not None else known.input_tokens,
            reported.output_tokens if reported.output_tokens is not None else known.output_tokens,
            reported.cached_input_tokens
            if reported.cached_input_tokens is not None
            else known.cached_input_tokens,
        )
        return self._usage

    def extra_delta(self, channel: str, text: str, like: SseEvent) -> SseEvent:
        index, (_, delta_type, key) = self._spec(channel)
        data = {"type": "content_block_delta", "index": index, "delta": {"type": delta_type, key: text}}
        return make_event(dumps(data), event="content_block_delta")

    def error_events(self, message: str, code: str, *, error_type: str | None = None) -> bytes:
        # Anthropic's error object has a type and a message; the code rides along as an extra
        # field, which the SDKs keep in the exception's body.
        error = {"type": error_type or DEFAULT_ERROR_TYPE, "message": message, "code": code}
        return make_event(dumps({"type": "error", "error": error}), event="error").raw


def _error(value: Any) -> StreamError:
    if not isinstance(value, dict):
        return StreamError("")
    message, kind = value.get("message"), value.get("type")
    return StreamError(
        message if isinstance(message, str) else "", None, kind if isinstance(kind, str) else None
    )
