"""Responses streams (https://platform.openai.com/docs/api-reference/responses-streaming).

Every event's data has a ``type`` (also its SSE ``event:`` name) and a ``sequence_number``.
Texts stream as ``*.delta`` events (``response.output_text.delta``, ``response.refusal.delta``,
``response.function_call_arguments.delta``, ``response.custom_tool_call_input.delta``,
``response.reasoning_summary_text.delta``, ``response.reasoning_text.delta``,
``response.mcp_call_arguments.delta``) addressed by ``output_index`` and, for parts,
``content_index`` or ``summary_index``. Any other ``*.delta`` event with a text ``delta``
(``response.code_interpreter_call_code.delta``, ``response.audio.transcript.delta``...) streams
on a channel of its own, closed by its ``*.done``. The whole text comes again in the matching ``*.done``
event, in ``response.content_part.*`` / ``response.reasoning_summary_part.*`` (the part),
``response.output_item.*`` (the item) and in ``response.created`` / ``in_progress`` /
``completed`` / ``failed`` / ``incomplete`` (the whole response, with ``usage`` at the end).

openai-python raises ``APIError`` for any event whose data has an ``error`` key; the documented
``error`` event (``{"type": "error", "code", "message", "param"}``) has none and is only yielded
as a ``ResponseErrorEvent``. ``error_events`` therefore sends the documented fields and an
``error`` object beside them, so that both the SDK and clients reading the event see the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ext_proc.protocols.llm import channels
from ext_proc.protocols.llm.document import get_at
from ext_proc.protocols.llm.model import JsonPath, Provider, TextField, TextKind
from ext_proc.protocols.llm.openai_responses.items import item_texts, part_texts, summary_text, usage
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

DEFAULT_ERROR_TYPE = "chaperone_error"
ENDS = frozenset({"response.completed", "response.failed", "response.incomplete"})


class _Family:
    """One kind of streamed text: its kind, channel key, part index field and delta event type."""

    def __init__(
        self, kind: TextKind, channel: Callable[..., str], part_key: str | None, delta_type: str
    ) -> None:
        self.kind = kind
        self.channel = channel
        self.part_key = part_key
        self.delta_type = delta_type

    def channel_of(self, doc: dict[str, Any]) -> str:
        output = S.opt_int(doc, "output_index", ()) or 0
        if self.part_key is None:
            return self.channel(output)
        return self.channel(output, S.opt_int(doc, self.part_key, ()) or 0)


_TEXT = _Family("message", channels.responses_text, "content_index", "response.output_text.delta")
_REFUSAL = _Family("refusal", channels.responses_refusal, "content_index", "response.refusal.delta")
_ARGUMENTS = _Family(
    "tool_arguments", channels.responses_arguments, None, "response.function_call_arguments.delta"
)
_MCP_ARGUMENTS = _Family(
    "tool_arguments", channels.responses_arguments, None, "response.mcp_call_arguments.delta"
)
_INPUT = _Family("tool_arguments", channels.responses_input, None, "response.custom_tool_call_input.delta")
_SUMMARY = _Family(
    "reasoning", channels.responses_summary, "summary_index", "response.reasoning_summary_text.delta"
)
_REASONING = _Family(
    "reasoning", channels.responses_reasoning, "content_index", "response.reasoning_text.delta"
)

# Event type -> (family, the field holding the text); deltas hold it in "delta".
_DELTAS = {
    family.delta_type: family
    for family in (_TEXT, _REFUSAL, _ARGUMENTS, _MCP_ARGUMENTS, _INPUT, _SUMMARY, _REASONING)
}
_DONES: dict[str, tuple[_Family, str]] = {
    "response.output_text.done": (_TEXT, "text"),
    "response.refusal.done": (_REFUSAL, "refusal"),
    "response.function_call_arguments.done": (_ARGUMENTS, "arguments"),
    "response.mcp_call_arguments.done": (_MCP_ARGUMENTS, "arguments"),
    "response.custom_tool_call_input.done": (_INPUT, "input"),
    "response.reasoning_summary_text.done": (_SUMMARY, "text"),
    "response.reasoning_text.done": (_REASONING, "text"),
}


class ResponsesStream(BaseInterpreter):
    provider: ClassVar[Provider] = "openai.responses"

    def __init__(self) -> None:
        super().__init__()
        self._sequence = 0
        self._generic: dict[str, _Family] = {}  # delta event types this version does not name

    def interpret(self, event: SseEvent) -> StreamEventView:
        doc = load_event(event)
        sequence = doc.get("sequence_number")
        if isinstance(sequence, int):
            self._sequence = sequence
        event_type = S.opt_string(doc, "type", ()) or ""
        check_event_name(event, event_type)
        family = _DELTAS.get(event_type) or self._generic_delta(event_type, doc)
        if family is not None:
            return self._delta(event, doc, family)
        done = _DONES.get(event_type)
        if done is not None:
            return self._done(event, doc, *done)
        generic = self._generic.get(event_type.removesuffix(".done") + ".delta")
        if generic is not None and event_type.endswith(".done"):
            # Its complete text is read with the event's other strings, as a whole.
            return StreamEventView(event, closed=self._close([generic.channel_of(doc)]), data=doc)
        if event_type in ("response.content_part.added", "response.content_part.done"):
            return self._part(event, doc, event_type.endswith(".done"), summary=False)
        if event_type in ("response.reasoning_summary_part.added", "response.reasoning_summary_part.done"):
            return self._part(event, doc, event_type.endswith(".done"), summary=True)
        if event_type in ("response.output_item.added", "response.output_item.done"):
            return self._item(event, doc, event_type.endswith(".done"))
        if "response" in doc and event_type.startswith("response."):
            return self._response(event, doc, event_type)
        if event_type == "error":
            return StreamEventView(event, error=_error(doc), data=doc)
        return StreamEventView(event, data=doc)

    def _generic_delta(self, event_type: str, doc: dict[str, Any]) -> _Family | None:
        """A ``*.delta`` event type with a text ``delta`` that this version does not name (code
        interpreter code, audio transcripts, and types to come): a text stream all the same, on
        a channel of its own per output item and part, so that a value split across its deltas
        is found."""
        if not event_type.endswith(".delta") or not isinstance(doc.get("delta"), str):
            return None
        family = self._generic.get(event_type)
        if family is None:
            part_key = next((key for key in _PART_KEYS if key in doc), None)
            family = _Family("message", _generic_channel(event_type), part_key, event_type)
            self._generic[event_type] = family
        return family

    def _delta(self, event: SseEvent, doc: dict[str, Any], family: _Family) -> StreamEventView:
        text = S.opt_string(doc, "delta", ())
        channel = family.channel_of(doc)
        self._opened(
            channel, (family, doc.get("item_id"), doc.get("output_index"), doc.get(family.part_key or ""))
        )
        if not text:
            return StreamEventView(event, data=doc)
        piece = StreamText(channel, family.kind, text, False, ("delta",), _scrub(doc, ("delta",)))
        return StreamEventView(event, texts=(piece,), data=doc)

    def _done(self, event: SseEvent, doc: dict[str, Any], family: _Family, key: str) -> StreamEventView:
        text = S.opt_string(doc, key, ())
        channel = family.channel_of(doc)
        texts = (
            ()
            if text is None
            else (StreamText(channel, family.kind, text, True, (key,), _scrub(doc, (key,))),)
        )
        return StreamEventView(event, texts=texts, closed=self._close([channel]), data=doc)

    def _part(self, event: SseEvent, doc: dict[str, Any], done: bool, *, summary: bool) -> StreamEventView:
        output = S.opt_int(doc, "output_index", ()) or 0
        index = S.opt_int(doc, "summary_index" if summary else "content_index", ()) or 0
        part = S.opt_object(doc, "part", ())
        if part is None:
            fields = []
        elif summary:
            fields = [summary_text(S, part, ("part",), output, index)]
        else:
            fields = part_texts(S, part, ("part",), output, index)
        closed = self._close([field.channel for field in fields]) if done else ()
        return StreamEventView(event, texts=_complete(doc, fields), closed=closed, data=doc)

    def _item(self, event: SseEvent, doc: dict[str, Any], done: bool) -> StreamEventView:
        output = S.opt_int(doc, "output_index", ()) or 0
        item = S.opt_object(doc, "item", ()) or {}
        fields = item_texts(S, item, ("item",), output)
        closed: tuple[str, ...] = ()
        if done:
            prefix = channels.responses_output_prefix(output)
            closed = self._close([channel for channel in self._open if channel.startswith(prefix)])
        return StreamEventView(event, texts=_complete(doc, fields), closed=closed, data=doc)

    def _response(self, event: SseEvent, doc: dict[str, Any], event_type: str) -> StreamEventView:
        response = S.object(doc["response"], ("response",))
        fields = [
            field
            for x, item in S.objects(response, "output", ("response",))
            for field in item_texts(S, item, ("response", "output", x), x)
        ]
        end = event_type in ENDS
        failure = S.opt_object(response, "error", ("response",))
        error = _error(failure) if failure else None
        return StreamEventView(
            event,
            texts=_complete(doc, fields),
            closed=self._close_all() if end else (),
            usage=usage(S, response.get("usage"), ("response", "usage")),
            model=S.opt_string(response, "model", ("response",)),
            done=end,
            error=error,
            data=doc,
        )

    def extra_delta(self, channel: str, text: str, like: SseEvent) -> SseEvent:
        """A delta event for ``channel``, numbered as the event it precedes (``like``).

        The Responses events are numbered (``sequence_number``); renumbering every later event
        would force re-encoding all of them, so the synthetic delta shares the number of the
        event it precedes. The SDKs do not check the numbering.
        """
        family, item_id, output, part = self._spec(channel)
        data: dict[str, Any] = {"type": family.delta_type, "item_id": item_id, "output_index": output}
        if family.part_key is not None:
            data[family.part_key] = part
        data["delta"] = text
        if family is _TEXT:
            data["logprobs"] = []
        data["sequence_number"] = self._sequence
        return make_event(dumps(data), event=family.delta_type)

    def error_events(self, message: str, code: str, *, error_type: str | None = None) -> bytes:
        error = {"type": error_type or DEFAULT_ERROR_TYPE, "code": code, "message": message, "param": None}
        data = {
            "type": "error",
            "code": code,
            "message": message,
            "param": None,
            "sequence_number": self._sequence + 1,
            "error": error,
        }
        return make_event(dumps(data), event="error").raw


_PART_KEYS = ("content_index", "summary_index")


def _generic_channel(event_type: str) -> Callable[..., str]:
    def channel(output: int, part: int | None = None) -> str:
        suffix = f" {event_type}" if part is None else f" {event_type} {part}"
        return channels.responses_output_prefix(output) + suffix.lstrip()

    return channel


def _complete(doc: dict[str, Any], fields: list[TextField]) -> tuple[StreamText, ...]:
    return tuple(
        StreamText(field.channel, field.kind, field.text, True, field.path, _scrub(doc, field.path))
        for field in fields
    )


def _scrub(doc: dict[str, Any], path: JsonPath) -> tuple[JsonPath, Any] | None:
    """The log probabilities beside a text (they spell it out), to empty when the text changes."""
    parent = get_at(doc, path[:-1])
    if isinstance(parent, dict) and parent.get("logprobs"):
        return (*path[:-1], "logprobs"), []
    return None


def _error(value: dict[str, Any]) -> StreamError:
    """The error of an ``error`` event or of a failed response (flat, or nested in ``error``)."""
    nested = value.get("error")
    source = nested if isinstance(nested, dict) else value
    message, code, kind = source.get("message"), source.get("code"), source.get("type")
    return StreamError(
        message if isinstance(message, str) else "",
        str(code) if code is not None else None,
        kind if isinstance(kind, str) and kind != "error" else None,
    )
