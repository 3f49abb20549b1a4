"""Incremental Server-Sent Events parsing and encoding.

The parser follows the WHATWG HTML standard, "9.2.6 Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

- lines end with CRLF, LF or CR; a CR that ends one chunk and an LF that starts the next are one
  line ending (the line is handled at the CR, and the LF is skipped when it comes);
- one UTF-8 byte order mark at the start of the stream is ignored;
- a line starting with ":" is a comment; a line without a colon is a field with an empty value;
  one space after the colon is removed; unknown fields are ignored;
- ``retry`` is only taken when its value is all ASCII digits, ``id`` only without U+0000;
- a blank line dispatches the event, unless it had no ``data`` line; an incomplete event at the
  end of the stream is never dispatched.

Two departures, both deliberate: invalid UTF-8 is an error (the standard replaces it with U+FFFD,
which would let bytes through that no scanner read), and ``SseEvent.id`` is the ``id`` field of
that event only (not the stream's last event id), so that an event re-encodes to its own fields.

``strict=True`` is for reading what an untrusted upstream sends: a line that is not a field the
standard defines (``data``, ``event``, ``id``, ``retry``) or a comment, a ``retry`` that is not
a number and an ``id`` with U+0000 are errors instead of being ignored (clients skip them, but
whoever reads the raw bytes would read what no scanner did), and the strings of an event that
are not its data (comments, ``event`` and ``id`` values, those of blocks without data before
it) are kept in ``SseEvent.extras`` so that they can be scanned too.

Byte fidelity is the point of ``SseEvent.raw``: it holds every input byte from the end of the
previous event up to and including this event's blank line, comments and undispatched blocks
included. The concatenation of all ``raw`` and the bytes returned by ``close()`` is the input,
so an unchanged event is forwarded as its ``raw`` and only a modified one is re-encoded.
``take_idle()`` hands out keep-alive comments as soon as they are complete, in stream order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ext_proc.errors import ChaperoneError, ErrorCode

DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024

_LINE_END = re.compile(rb"\r\n|[\r\n]")
_DATA_LINE_END = re.compile(r"\r\n|[\r\n]")
_BOM = b"\xef\xbb\xbf"
_CR = 13
_LF = 10
_CR_BYTE = b"\r"
_LF_BYTE = b"\n"


@dataclass(frozen=True, slots=True)
class SseEvent:
    data: str  # the data lines joined with "\n"
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    raw: bytes = b""  # the exact input bytes of this event (see the module docstring)
    # Strict parsing: the other strings in ``raw`` (comments, event names, ids), in order.
    extras: tuple[str, ...] = ()


# A frozen dataclass's __init__ goes through object.__setattr__ for every field (about 1 µs for
# five fields); the parser builds events through the slot descriptors instead, which is what
# that __init__ does minus the overhead. Events stay immutable for everyone else.
_set_data, _set_event, _set_id, _set_retry, _set_raw, _set_extras = (
    SseEvent.__dict__[name].__set__ for name in ("data", "event", "id", "retry", "raw", "extras")
)
_FIELDS = frozenset({"data", "event", "id", "retry"})


def _new_event(  # noqa: PLR0917  (the fields, in order: a hot path without keywords)
    data: str, event: str | None, id: str | None, retry: int | None, raw: bytes, extras: tuple[str, ...]
) -> SseEvent:
    new = object.__new__(SseEvent)
    _set_data(new, data)
    _set_event(new, event)
    _set_id(new, id)
    _set_retry(new, retry)
    _set_raw(new, raw)
    _set_extras(new, extras)
    return new


class SseParser:
    """Feed bytes as they arrive; get the events completed so far.

    The parser must not be used again after ``feed()`` raised or after ``close()``.
    """

    __slots__ = (
        "_bom_checked",
        "_buf",
        "_data",
        "_event",
        "_extras",
        "_fields",
        "_held",
        "_id",
        "_line",
        "_max_event_bytes",
        "_offset",
        "_parts",
        "_retry",
        "_scan",
        "_skip_lf",
        "_strict",
    )

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES, strict: bool = False) -> None:
        self._max_event_bytes = max_event_bytes
        self._strict = strict
        self._extras: list[str] = []
        self._buf = b""  # unconsumed input: the pending event's raw bytes so far
        self._parts: list[bytes] = []  # chunks after _buf that hold no line end
        self._held = 0  # their total size
        self._line = 0  # offset in _buf where the incomplete line starts
        self._scan = 0  # offset in _buf up to which no line ending was found
        self._offset = 0  # stream offset of _buf[0], for error messages
        self._bom_checked = False
        self._skip_lf = False
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._fields = False  # a field line was seen since the last blank line

    @property
    def ended_mid_event(self) -> bool:
        """True when the input so far stops inside an event or a line (a truncated stream)."""
        return self._fields or self._line < len(self._buf) or bool(self._parts)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self._bom_checked and not (_LF_BYTE in chunk or _CR_BYTE in chunk):
            # No line ends: keep the piece without copying what is already held (a long line
            # arriving in many chunks costs linear time, not quadratic).
            self._parts.append(chunk)
            self._held += len(chunk)
            self._check_size()
            return []
        buf = self._take_buffer(chunk)
        pos = self._line
        if not self._bom_checked:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._buf = buf
                return []
            self._bom_checked = True
            if buf.startswith(_BOM):
                pos = self._scan = len(_BOM)
        if self._skip_lf and pos < len(buf):
            self._skip_lf = False
            if buf[pos] == _LF:
                pos += 1
                self._scan = max(self._scan, pos)
        events: list[SseEvent] = []
        start = 0  # where the raw bytes of the next event begin
        for end, after in _line_ends(buf, self._scan):
            if end == pos:
                if self._data:
                    events.append(self._dispatch(buf[start:after]))
                    start = after
                self._reset()
            else:
                self._field(buf[pos:end], self._offset + pos)
            pos = after
        if pos == len(buf) and pos and buf[pos - 1] == _CR:
            self._skip_lf = True
        self._keep(buf, start, pos)
        return events

    def take_idle(self) -> bytes:
        """Complete lines waiting outside any event (comments, blocks without data), removed.

        Forwarding them at once keeps keep-alive comments flowing while no event completes;
        otherwise they stay in the ``raw`` of the next event. The bytes taken here, the ``raw``
        of the events and the bytes of ``close()``, in order, are the input.
        """
        if self._fields or not self._line:
            return b""
        idle, line = self._buf[: self._line], self._line
        self._extras = []  # they are in the idle bytes, which the caller reads as they are
        self._buf = self._buf[line:]
        self._offset += line
        self._scan -= line
        self._line = 0
        return idle

    def close(self) -> bytes:
        """The bytes after the last dispatched event (an incomplete event is not dispatched)."""
        if self._parts:
            self._buf = b"".join([self._buf, *self._parts])
            self._parts = []
            self._held = 0
        return self._buf

    def _take_buffer(self, chunk: bytes) -> bytes:
        if self._parts:
            self._parts.append(chunk)
            chunk = b"".join(self._parts)
            self._parts = []
            self._held = 0
        return self._buf + chunk if self._buf else chunk

    def _keep(self, buf: bytes, start: int, pos: int) -> None:
        self._buf = buf[start:]
        self._offset += start
        self._line = pos - start
        self._scan = len(self._buf)
        self._check_size()

    def _check_size(self) -> None:
        if len(self._buf) + self._held > self._max_event_bytes:
            raise ChaperoneError(
                ErrorCode.BODY_TOO_LARGE,
                f"an SSE event exceeds {self._max_event_bytes} bytes",
                http_status=502,
            )

    def _field(self, line: bytes, where: int) -> None:
        try:
            text = line.decode()
        except UnicodeDecodeError as exc:
            raise ChaperoneError(
                ErrorCode.SSE_DECODE_ERROR,
                f"the event stream is not valid UTF-8 near byte {where + exc.start}",
                http_status=502,
            ) from None
        if text[0] == ":":
            if self._strict and len(text) > 1:
                self._extras.append(text[1:])
            return
        self._fields = True
        name, colon, value = text.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            return
        if self._strict:
            self._check(name, value, where)
        if name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _check(self, name: str, value: str, where: int) -> None:
        """Strict: only the standard's fields, with values clients take (never a value in the
        message: it is the upstream's, and may be a secret)."""
        if name not in _FIELDS:
            problem = "a line that is not an SSE field"
        elif name == "retry" and not (value.isascii() and value.isdigit()):
            problem = "a retry field that is not a number"
        elif name == "id" and "\0" in value:
            problem = "an id field with U+0000"
        else:
            if value:
                self._extras.append(value)
            return
        raise ChaperoneError(
            ErrorCode.SSE_DECODE_ERROR, f"the event stream has {problem} near byte {where}", http_status=502
        )

    def _dispatch(self, raw: bytes) -> SseEvent:
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        extras: tuple[str, ...] = ()
        if self._extras:
            extras, self._extras = tuple(self._extras), []
        return _new_event(data, self._event, self._id, self._retry, raw, extras)

    def _reset(self) -> None:
        self._data = []
        self._event = self._id = None
        self._retry = None
        self._fields = False


def _line_ends(buf: bytes, scan: int) -> list[tuple[int, int]]:
    """(end of line, start of the next line) for every line end in buf[scan:]."""
    if _CR_BYTE not in buf:
        # The common case, LF only: find() is several times faster than the regex.
        ends = []
        find = buf.find
        end = find(_LF_BYTE, scan)
        while end >= 0:
            ends.append((end, end + 1))
            end = find(_LF_BYTE, end + 1)
        return ends
    return [match.span() for match in _LINE_END.finditer(buf, scan)]


def encode_event(event: SseEvent) -> bytes:
    """The canonical encoding of an event's fields (``raw`` is not used).

    A CR or LF inside ``data`` starts a new data line: SSE cannot carry a CR in data, so a CR
    comes back as LF. ``event`` and ``id`` cannot hold line breaks at all.
    """
    parts: list[str] = []
    if event.event is not None:
        parts.append(f"event: {_single_line(event.event, 'event')}\n")
    data = event.data
    lines = _DATA_LINE_END.split(data) if "\r" in data else data.split("\n")
    parts.extend(f"data: {line}\n" for line in lines)
    if event.id is not None:
        parts.append(f"id: {_single_line(event.id, 'id')}\n")
    if event.retry is not None:
        parts.append(f"retry: {event.retry}\n")
    parts.append("\n")
    return "".join(parts).encode()


def make_event(data: str, *, event: str | None = None, id: str | None = None) -> SseEvent:
    """A new event whose ``raw`` is its canonical encoding."""
    fields = SseEvent(data, event, id)
    return SseEvent(data, event, id, None, encode_event(fields))


def with_data(event: SseEvent, data: str) -> SseEvent:
    """``event`` with other data, keeping its name, id and retry, re-encoded."""
    name, id, retry = event.event, event.id, event.retry
    if name is None and id is None and retry is None and "\n" not in data and "\r" not in data:
        # The common case (a rewritten stream chunk): one data line, what encode_event writes.
        return _new_event(data, None, None, None, f"data: {data}\n\n".encode(), ())
    fields = SseEvent(data, name, id, retry)
    return _new_event(data, name, id, retry, encode_event(fields), ())


def _single_line(value: str, name: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {name} field cannot contain a line break")
    return value
