"""A streamed LLM response, relayed event by event with its texts redacted as they stream.

Each channel (a choice's content, a tool call's arguments, a content block) has its own
``StreamRedactor``: a value split across any number of chunks and events is still found, and only
the tail that could still grow into a match is held back (about one token in prose). Held text
goes out with the channel's next delta, or in a synthetic delta just before the event that
closes the channel. The complete texts some providers repeat (the Responses API's ``*.done`` and
``response.completed`` events) are rewritten to what was actually sent on their channel.

The events of one chunk go out together, so a channel's deltas in a chunk are scanned once
(``StreamRedactor.feed_split``): text is only held at the end of a chunk, a value cut across
events of the chunk goes out redacted with the event where it ends, and every other event keeps
its own text and is forwarded as its bytes. A fast upstream's answer reaches ext_proc in a few
large chunks: about half the cost per event of scanning each delta alone (``tests/bench/inspection.py``).

Every other string of every event (ids, tool names, annotations, error objects, the fields of
event types this version does not know, object keys) is scanned as a whole with the event:
an unknown field is content. Prompt injection is looked for in those strings (not in the
model's own deltas); an event where some is found is handed to the caller as a ``PendingEvent``
for the policy to judge (``judged=True``), and otherwise redacted per the table.

A finding whose action is block or end_stream ends the stream there with the provider's own
error event (the SDK raises it); everything after is swallowed. Bytes are forwarded unchanged
whenever an event's strings are unchanged.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.inspection.guard import TextScan, apply, findings_input, injection_input
from ext_proc.inspection.judgement import Judgement
from ext_proc.inspection.leaf_scan import LeafScanner
from ext_proc.inspection.leaves import rewrite
from ext_proc.inspection.request import TOOL_RESULT
from ext_proc.inspection.sse_sides import Sides
from ext_proc.protocols.llm import (
    Provider,
    StreamEventView,
    StreamInterpreter,
    StreamText,
    stream_interpreter,
)
from ext_proc.protocols.llm.model import Usage
from ext_proc.protocols.llm.stream_view import dumps
from ext_proc.protocols.sse import SseEvent, SseParser, with_data
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.redaction import default_scanner, redact_text
from ext_proc.scanning.scanner import Scanner
from ext_proc.scanning.stream import Step, StreamRedactor

STOP_CODE = "chaperone_sensitive_data"
# Where a synthetic delta holds its text (released by the redactor: not scanned again).
_DELTA_PATHS = frozenset(
    {
        ("delta",),
        ("delta", "text"),
        ("delta", "partial_json"),
        ("delta", "thinking"),
    }
)
DENIED_CODE = "chaperone_policy_denied"


@dataclass(slots=True)
class Stopped:
    """Why the stream was ended early (for the audit event; no value, only the type)."""

    reason: str  # "sensitive_data" or an error code
    finding_type: str | None = None


@dataclass(slots=True)
class RelayStats:
    findings: Counter[str] = field(default_factory=Counter)
    redacted: Counter[str] = field(default_factory=Counter)
    events: int = 0
    rewritten: int = 0
    usage: Usage | None = None
    model: str | None = None
    output_chars: int = 0  # the answer's text sent so far (budgets charge a stream by it)


@dataclass(slots=True)
class PendingEvent:
    """An event whose strings carry injection signals: the policy judges it (``resolve``)."""

    findings: dict[str, Any]
    injection: dict[str, Any]
    _finish: Callable[[Judgement], bytes] = field(repr=False)

    def resolve(self, judgement: Judgement) -> bytes:
        """The bytes to forward for this event once judged."""
        return self._finish(judgement)


class LlmStreamRelay:
    def __init__(
        self,
        provider: Provider,
        table: ActionTable,
        *,
        scanner: Scanner | None = None,
        judged: bool = False,
        echo: Collection[str] = (),
    ) -> None:
        """``echo``: the request's strings, which events may repeat (``LeafScanner``)."""
        self._parser = SseParser(strict=True)
        self._interpreter: StreamInterpreter = stream_interpreter(provider)
        self._table = table
        self._scanner = scanner or default_scanner()
        self._leaves = LeafScanner(TOOL_RESULT, scanner=self._scanner, echo=echo)
        self._judged = judged
        self._redactors: dict[str, StreamRedactor] = {}
        # What was sent of each channel, in pieces (joined when a complete text repeats it: a
        # string grown by one delta at a time would be copied whole at each).
        self._sent: dict[str, list[str]] = {}
        self._last_event = SseEvent(data="{}")
        self.stopped: Stopped | None = None
        self.stats = RelayStats()
        self._sides = Sides(
            table, scanner=self._scanner, findings=self.stats.findings, redacted=self.stats.redacted
        )

    def feed(self, data: bytes) -> bytes:
        """The bytes to forward for this chunk of the upstream's stream (no policy: an event
        with injection signals is redacted per the table)."""
        out = bytearray()
        for piece in self.feed_events(data):
            out += piece.resolve(self._by_table()) if isinstance(piece, PendingEvent) else piece
        return bytes(out)

    def feed_events(self, data: bytes) -> Iterator[bytes | PendingEvent]:
        """The bytes to forward for this chunk, event by event: a caller that stops the stream
        between two events (``stop``) drops the rest of the chunk. With ``judged``, an event
        carrying injection signals comes as a ``PendingEvent``, to resolve before the next."""
        if self.stopped is not None:
            return
        try:
            events = self._parser.feed(data)
            at = 0
            while at < len(events) and self._sides.stopped_by is None:
                views, error = self._window(events, at)
                at += len(views)
                steps = self._split_feeds(views)
                for view in views:
                    yield self._event(view, steps)
                    if self.stopped is not None:
                        return
                if error is not None:
                    raise error
            idle = self._sides.idle(self._parser.take_idle())  # keep-alive comments pass at once
        except ChaperoneError as exc:
            # An event we cannot read is not passed on unread: the stream ends with an error.
            yield self._stop(
                Stopped(exc.code.value), "the upstream stream could not be inspected", exc.code.value
            )
            return
        if self._sides.stopped_by is not None:
            yield self._stop_for(self._sides.stopped_by)
            return
        if idle:
            yield idle

    def _window(self, events: list[SseEvent], at: int) -> tuple[list[StreamEventView], ChaperoneError | None]:
        """The events from ``at`` read, up to the first that does more than add deltas (closes a
        channel, repeats a complete text, ends the stream, reports an error), which ends the
        window; the error that stopped the reading, to raise once the events before are sent."""
        views: list[StreamEventView] = []
        for index in range(at, len(events)):
            side_checked = self._sides.event(events[index])
            if self._sides.stopped_by is not None:
                break
            try:
                view = self._interpreter.interpret(side_checked)
            except ChaperoneError as exc:
                return views, exc
            views.append(view)
            if view.closed or view.done or view.error is not None or any(p.complete for p in view.texts):
                break
        return views, None

    def _split_feeds(self, views: list[StreamEventView]) -> dict[int, Step]:
        """One scan of each channel's deltas in these events (``StreamRedactor.feed_split``),
        by ``id`` of the piece: the events of a chunk go out together, so the text held back is
        only held at the end of the chunk, and a delta whose text is unchanged is forwarded as
        its bytes. A channel closed in these events is left to its event (``feed`` and
        ``finish``), and so is one already ended (its event refuses it)."""
        by_channel: dict[str, list[StreamText]] = {}
        for view in views:
            for piece in view.texts:
                if not piece.complete and piece.channel not in view.closed:
                    by_channel.setdefault(piece.channel, []).append(piece)
        steps: dict[int, Step] = {}
        for channel, pieces in by_channel.items():
            if len(pieces) > 1 and not self._ended(channel):
                split = self._redactor(channel).feed_split([piece.text for piece in pieces])
                steps.update(zip(map(id, pieces), split, strict=True))
        return steps

    def finish(self) -> bytes:
        """The end of the upstream's stream: what is still held goes out; a cut-off event does not."""
        if self.stopped is not None:
            return b""
        self._parser.close()  # an incomplete last event is not dispatched by clients (WHATWG)
        out = bytearray()
        for channel in self._interpreter.open_channels:
            if self._ended(channel):
                continue
            step = self._redactor(channel).finish()
            out += self._after_step(channel, step, like=None)
        return bytes(out)

    def error_events(self, message: str, code: str) -> bytes:
        return self._interpreter.error_events(message, code)

    def stop(self, code: str, message: str) -> bytes:
        """End the stream here for a reason of the gateway's (a budget crossed, a kill switch):
        the provider's error event; everything the upstream sends after is swallowed."""
        if self.stopped is not None:
            return b""
        return self._stop(Stopped(code), message, code)

    # -- one event ------------------------------------------------------------------------------

    def _event(self, view: StreamEventView, steps: dict[int, Step]) -> bytes | PendingEvent:
        """One event, read (``_window``), its deltas scanned (``_split_feeds``, or here)."""
        self._last_event = view.event
        self.stats.events += 1
        if view.usage is not None:
            self.stats.usage = view.usage
        if view.model:
            self.stats.model = view.model
        before = bytearray()
        texts: list[str] = []
        for piece in view.texts:
            if piece.complete:
                texts.append(self._complete(piece.channel, piece.text))
            else:
                step = steps.get(id(piece))
                if step is None:
                    step = self._redactor(piece.channel).feed(piece.text)
                if piece.channel in view.closed:
                    step = _join(step, self._redactor(piece.channel).finish())
                texts.append(self._record(piece.channel, step))
            if self.stopped is not None:
                return self._stopped_in(view, texts)
        for channel in view.closed:
            if channel not in {piece.channel for piece in view.texts if not piece.complete}:
                before += self._after_step(channel, self._redactor(channel).finish(), like=view.event)
                if self.stopped is not None:
                    return bytes(before)
        scans = self._scan_leaves(view)
        if not scans:
            return bytes(before) + self._encoded(view, texts)
        finish = _Finish(self, view, texts, bytes(before), scans)
        # The policy is asked about an event only when one of its strings carries prompt
        # injection signals, as for a JSON answer; sensitive data alone is the table's to redact
        # (an upstream's ids are digits often enough to look like a card number).
        if self._judged and any(s.injection is not None and s.injection.signals for s in scans):
            return PendingEvent(findings_input(scans), injection_input(scans), finish)
        return finish(self._by_table())

    def _scan_leaves(self, view: StreamEventView) -> tuple[TextScan, ...]:
        """Every string of the event but the channel texts, which are read above."""
        if view.data is None:
            return ()
        return self._leaves.scan(view.data, skip=tuple(piece.path for piece in view.texts))

    def _by_table(self) -> Judgement:
        return Judgement(allowed=True, table=self._table, strip=False)

    def _finish_event(
        self,
        view: StreamEventView,
        texts: list[str],
        before: bytes,
        scans: tuple[TextScan, ...],
        judgement: Judgement,
    ) -> bytes:
        """An event whose other strings had findings or signals, once the policy (or the table)
        has decided: refused, or redacted (hidden content stripped if it asks)."""
        if self.stopped is not None:
            return b""
        if not judgement.allowed:
            self.stopped = Stopped("policy_denied")
            return (
                before
                + self._released(view, texts)
                + self._interpreter.error_events(
                    judgement.message or "the response was denied by policy", DENIED_CODE
                )
            )
        for scanned in scans:
            self._count(scanned.findings, judgement.table)
        applied = apply(scans, judgement.table, strip=judgement.strip)
        if applied.blocked_by is not None:
            self.stopped = Stopped("sensitive_data", applied.blocked_by)
            return before + self._stopped_in(view, texts)
        if not applied.replacements:
            return before + self._encoded(view, texts)
        data = rewrite(view.data, [(text.path, new) for text, new in applied.replacements])
        rewritten = self._interpreter.rewrite(dataclasses.replace(view, data=data), texts)
        if rewritten is view.event:
            rewritten = with_data(view.event, dumps(data))
        self.stats.rewritten += 1
        return before + rewritten.raw

    def _complete(self, channel: str, text: str) -> str:
        sent = self._sent.get(channel)
        if sent is not None:
            if len(sent) > 1:
                sent[:] = ["".join(sent)]
            return sent[0] if sent else ""
        # A text that never streamed as deltas (a complete item only): judged as a whole.
        redaction = redact_text(text, self._table, scanner=self._scanner)
        self._count(redaction.findings)
        if redaction.verdict is not None and redaction.stopped_by is not None:
            self.stopped = Stopped("sensitive_data", redaction.stopped_by.type)
            return ""
        self._sent[channel] = [redaction.text]
        self.stats.output_chars += len(redaction.text)
        return redaction.text

    def _record(self, channel: str, step: Step) -> str:
        self._count(step.findings)
        if step.verdict is not None:
            self.stopped = Stopped("sensitive_data", step.stopped_by.type if step.stopped_by else None)
        self._sent.setdefault(channel, []).append(step.emit)
        self.stats.output_chars += len(step.emit)
        return step.emit

    def _after_step(self, channel: str, step: Step, like: SseEvent | None) -> bytes:
        """Text released for a channel outside any delta of its own: a synthetic delta."""
        emit = self._record(channel, step)
        out = b""
        if emit:
            out = self._extra_delta(channel, emit, like or self._last_event)
        if self.stopped is not None:
            out += self._error_for_stop()
        return out

    def _stopped_in(self, view: StreamEventView, texts: list[str]) -> bytes:
        """The stream stops inside this event: send what was released of it, then the error."""
        return self._released(view, texts) + self._error_for_stop()

    def _released(self, view: StreamEventView, texts: list[str]) -> bytes:
        """The deltas of this event that were released, each in a delta event of its own."""
        out = bytearray()
        for piece, text in zip(view.texts, texts, strict=False):
            if text and not piece.complete:
                out += self._extra_delta(piece.channel, text, view.event)
        return bytes(out)

    def _extra_delta(self, channel: str, text: str, like: SseEvent) -> bytes:
        """A synthetic delta event. Its other fields come from the upstream's events (a chunk's
        id and model, an item's id), so its strings are scanned like theirs: redacted, or the
        delta is not sent (the stream stops on a stopping finding)."""
        event = self._interpreter.extra_delta(channel, text, like=like)
        data = strict_json.loads(event.data.encode())
        scans = self._leaves.scan(data, skip=_DELTA_PATHS)
        if not scans:
            return event.raw
        applied = apply(scans, self._table, strip=False)
        if applied.blocked_by is not None:
            self.stopped = self.stopped or Stopped("sensitive_data", applied.blocked_by)
            return b""
        data = rewrite(data, [(scanned.path, new) for scanned, new in applied.replacements])
        return with_data(event, dumps(data)).raw

    def _encoded(self, view: StreamEventView, texts: list[str]) -> bytes:
        if view.unchanged(texts):
            return view.event.raw
        self.stats.rewritten += 1
        return self._interpreter.rewrite(view, texts).raw

    def _error_for_stop(self) -> bytes:
        assert self.stopped is not None
        kind = self.stopped.finding_type or "sensitive data"
        return self._interpreter.error_events(
            f"the response was stopped by policy: it contained {kind}", STOP_CODE
        )

    def _stop_for(self, finding_type: str) -> bytes:
        self.stopped = Stopped("sensitive_data", finding_type)
        return self._error_for_stop()

    def _stop(self, stopped: Stopped, message: str, code: str) -> bytes:
        self.stopped = stopped
        return self._interpreter.error_events(message, code)

    def _redactor(self, channel: str) -> StreamRedactor:
        redactor = self._redactors.get(channel)
        if redactor is None:
            redactor = self._redactors[channel] = StreamRedactor(self._table, scanner=self._scanner)
        elif redactor.finished:
            # A text that goes on after its end (a block restarted at an index already closed,
            # a second stop for it): no provider sends that, and what was already released of
            # the text could join the new part into a value no scan saw whole.
            raise ChaperoneError(
                ErrorCode.LLM_RESPONSE_INVALID, "the stream continues a text it had ended", http_status=502
            )
        return redactor

    def _ended(self, channel: str) -> bool:
        redactor = self._redactors.get(channel)
        return redactor is not None and redactor.finished

    def _count(self, findings: tuple[object, ...] | list[object], table: ActionTable | None = None) -> None:
        table = table or self._table
        for finding in findings:
            kind = finding.type  # type: ignore[attr-defined]
            self.stats.findings[kind] += 1
            if table.action_for(kind, finding.category) == "redact":  # type: ignore[attr-defined]
                self.stats.redacted[kind] += 1


@dataclass(frozen=True, slots=True)
class _Finish:
    """The rest of an event's relaying, once it is known what to do with its other strings."""

    relay: LlmStreamRelay
    view: StreamEventView
    texts: list[str]
    before: bytes
    scans: tuple[TextScan, ...]

    def __call__(self, judgement: Judgement) -> bytes:
        return self.relay._finish_event(self.view, self.texts, self.before, self.scans, judgement)


def _join(first: Step, second: Step) -> Step:
    return Step(
        emit=first.emit + second.emit,
        findings=first.findings + second.findings,
        verdict=second.verdict or first.verdict,
        stopped_by=first.stopped_by or second.stopped_by,
    )
