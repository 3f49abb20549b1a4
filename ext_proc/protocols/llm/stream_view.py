"""What a streamed LLM response event means, and the rewriting shared by every provider.

A stream interpreter (one per response stream, see ``ext_proc.protocols.llm.stream``) turns each
``SseEvent`` into a ``StreamEventView``:

- ``texts``: the text pieces the event carries, in order. A piece is a delta appended to its
  channel (``complete=False``), or the whole text of the channel repeated (``complete=True``:
  the Responses API's ``*.done``, ``output_item.*``, ``content_part.*`` and ``response.*``
  snapshots), which must be rewritten to the text actually sent for that channel so far;
- ``closed``: the channels that were open and end with this event (OpenAI ``finish_reason``,
  Anthropic ``content_block_stop``, Responses ``*.done``, and every open channel at the end of
  the stream). Text held back for a closing channel is sent before this event with
  ``extra_delta``, or, when this very event carries a delta of that channel, inside that delta;
- ``usage``, ``model``, ``done`` (the provider's end-of-stream marker) and ``error`` (a
  provider's error event).

``rewrite(view, new_texts)`` takes one new text per piece. When every text is the same it
returns the original event, whose ``raw`` bytes are then forwarded unchanged; otherwise it
returns a re-encoded event (same SSE event name and id) whose other JSON fields are kept, except
the token log probabilities of a changed text: they spell out the original text, so they are
dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.protocols.llm.document import replace_at
from ext_proc.protocols.llm.model import JsonPath, Provider, TextKind, Usage
from ext_proc.protocols.llm.shapes import RESPONSE
from ext_proc.protocols.sse import SseEvent, with_data


@dataclass(frozen=True, slots=True)
class StreamText:
    channel: str
    kind: TextKind
    text: str
    complete: bool  # the whole text of the channel, not a delta
    path: JsonPath  # where the text is in the event's JSON data
    # Where this text's token log probabilities are, and what replaces them when it changes.
    scrub: tuple[JsonPath, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error reported by the provider inside the stream (not safe to log: it may quote input)."""

    message: str
    code: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class StreamEventView:
    event: SseEvent
    texts: tuple[StreamText, ...] = ()
    closed: tuple[str, ...] = ()
    usage: Usage | None = None  # the usage known after this event, when this event reports some
    model: str | None = None
    done: bool = False
    error: StreamError | None = None
    data: Any = field(default=None, repr=False, compare=False)  # the event's parsed JSON

    def unchanged(self, new_texts: Sequence[str]) -> bool:
        return len(new_texts) == len(self.texts) and all(
            new == piece.text for new, piece in zip(new_texts, self.texts, strict=True)
        )


class StreamInterpreter(Protocol):
    """The per-stream interpreter of one provider's SSE events (keeps which channels are open)."""

    @property
    def provider(self) -> Provider: ...

    @property
    def open_channels(self) -> tuple[str, ...]:
        """Channels that had text and have not ended (at a truncated end of stream, for instance)."""
        ...

    def interpret(self, event: SseEvent) -> StreamEventView: ...

    def rewrite(self, view: StreamEventView, new_texts: Sequence[str]) -> SseEvent: ...

    def extra_delta(self, channel: str, text: str, like: SseEvent) -> SseEvent:
        """A synthetic event adding ``text`` to ``channel``, to be sent just before ``like``
        (the event that was interpreted last)."""
        ...

    def error_events(self, message: str, code: str, *, error_type: str | None = None) -> bytes:
        """The bytes that end the stream with an error the provider's SDKs raise on."""
        ...


class BaseInterpreter:
    """Channel bookkeeping and rewriting; subclasses read their provider's events."""

    provider: ClassVar[Provider]

    def __init__(self) -> None:
        self._open: dict[str, None] = {}  # insertion-ordered set of the channels with text
        self._known: dict[str, Any] = {}  # channel -> what extra_delta needs to build a delta

    @property
    def open_channels(self) -> tuple[str, ...]:
        return tuple(self._open)

    def rewrite(self, view: StreamEventView, new_texts: Sequence[str]) -> SseEvent:
        if len(new_texts) != len(view.texts):
            raise ValueError(f"expected {len(view.texts)} texts, got {len(new_texts)}")
        replacements: list[tuple[JsonPath, Any]] = []
        for piece, text in zip(view.texts, new_texts, strict=True):
            if text != piece.text:
                replacements.append((piece.path, text))
                if piece.scrub is not None:
                    replacements.append(piece.scrub)
        if not replacements:
            return view.event
        return with_data(view.event, dumps(replace_at(view.data, replacements)))

    def _opened(self, channel: str, spec: Any) -> None:
        if channel not in self._open:
            self._open[channel] = None
            self._known[channel] = spec

    def _close(self, channels: Sequence[str]) -> tuple[str, ...]:
        """The channels among these that were open, now closed."""
        closed = tuple(channel for channel in channels if channel in self._open)
        for channel in closed:
            del self._open[channel]
        return closed

    def _close_all(self) -> tuple[str, ...]:
        closed = tuple(self._open)
        self._open.clear()
        return closed

    def _spec(self, channel: str) -> Any:
        try:
            return self._known[channel]
        except KeyError:
            raise ValueError(f"unknown channel {channel!r}") from None


def load_event(event: SseEvent) -> dict[str, Any]:
    """The JSON object an event carries (``llm_response_invalid`` otherwise)."""
    document = RESPONSE.loads(event.data)
    if not isinstance(document, dict):
        raise ChaperoneError(
            ErrorCode.LLM_RESPONSE_INVALID, "a stream event's data is not a JSON object", http_status=502
        )
    return document


def check_event_name(event: SseEvent, event_type: str | None) -> None:
    """An event named otherwise than its data's ``type`` (Anthropic, Responses) is refused: a
    client that dispatches on the name would read as a text delta what was read here as another
    kind of event (``llm_response_invalid``)."""
    if event.event is not None and event.event != (event_type or ""):
        raise ChaperoneError(
            ErrorCode.LLM_RESPONSE_INVALID,
            "a stream event's name is not the type of its data",
            http_status=502,
        )


def dumps(document: Any) -> str:
    return strict_json.dumps(document).decode()
