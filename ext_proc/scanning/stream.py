"""Streaming redaction of one text stream (one choice, content block or tool-argument stream).

The guarantee: for every way of cutting a text into deltas, the concatenation of the ``emit``
strings of all ``feed`` calls and of ``finish`` equals ``redact_text(text).text``, and the
findings are the same. So a value split across any number of deltas is redacted, and a card number
or an IBAN, which is only judged at its last digit, is never emitted before it can be judged.

Adaptive holdback. After each delta, the redactor emits everything up to the leftmost position
from which more text could still produce or extend a match of some detector (the *live* point),
and holds the rest. In prose that is the last, unfinished word (it might be the start of an email
address); after a space, nothing. Inside a key, a JWT or ``password="...`` it is the whole value so
far, until it ends. The hold is bounded by the longest possible match (``Detector.max_len``).

How the live point is found, and why not with hyperscan's streaming mode: hyperscan reports
matches once they are complete, but cannot say whether the text at the end *could still become*
a match, which is exactly what the holdback needs (a hyperscan stream would also have to rewind
when the emitted text is cut before a match it already reported). ``regex``'s ``partial=True``
answers it: a search for ``(?:detector)[\\s\\S](?!)`` can never complete, so it reports the
leftmost position whose match attempt runs into the end of the text. Hyperscan still does the
bulk of the work: one block scan of each delta with every detector's ``live`` pattern (a
superset of the prefixes of its matches, anchored at the end) picks the few detectors to check
exactly, and from where; live points only move forward, so a detector that was not live is only
looked for in the new text. Matches on the text about to be emitted are confirmed as in block
scanning (hyperscan anchors, then the exact patterns). About 15 us per 4-20 character delta.

Normalized views. The text's normalized view (``views.py``: escapes, URL encoding, HTML
references, invisible characters, look-alikes) is scanned too, as block scanning does: the view of
the held text (with some context before it) is built afresh after each delta, with the scanner's
``step`` on it; its live point, mapped back, can only hold more text, and so can a trailing
escape still being written (``\\u00``). A view is local (a text cut between two escapes has the
view of its parts), so the findings are those of the whole text's view. Segment detectors (base64,
hex, interleaved characters) are detectors like the others, with bounded lengths.

Settling. A match that starts before the live point is final: no attempt from its start reaches
the end, so no later text can change it. The emitted prefix must not cut a match, so the cut moves
back to the start of any final match that straddles it. Overlaps are settled inside the emitted
prefix only, which is sound because no match crosses the cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from ext_proc.scanning import views
from ext_proc.scanning.actions import REDACT_ALL, ActionTable
from ext_proc.scanning.findings import Finding, Hit, settle_overlaps
from ext_proc.scanning.redaction import Verdict, count_types, default_scanner, rewrite
from ext_proc.scanning.scanner import Match, Pending, Scanner, view_hit

# Characters kept before the emitted point for look-behind assertions (the longest, a phone
# number's context, reads about 50).
_LOOKBEHIND_CONTEXT = 72
# Of those, how many the normalized view is built from (before aligning to an escape's start).
_VIEW_CONTEXT = 56


@dataclass(frozen=True, slots=True)
class Step:
    emit: str
    # Findings settled in this step, in offsets of the stream's input text (all deltas so far).
    findings: tuple[Finding, ...] = ()
    # Set from the step where a block/end_stream finding was reached, and on every step after it.
    verdict: Verdict | None = None
    stopped_by: Finding | None = None


class StreamRedactor:
    def __init__(self, table: ActionTable = REDACT_ALL, *, scanner: Scanner | None = None) -> None:
        self._table = table
        self._scanner = scanner or default_scanner()
        self._buffer = ""  # text from offset _base on: look-behind context, then held text
        self._base = 0
        self._emitted = 0  # input offset up to which everything is settled and emitted
        self._pending = Pending()
        self._findings: list[Finding] = []
        self._stop: Step | None = None
        self._finished = False

    @property
    def held(self) -> int:
        """Characters received but not yet emitted."""
        return self._base + len(self._buffer) - self._emitted

    @property
    def finished(self) -> bool:
        """``finish()`` was called: the text has ended."""
        return self._finished

    @property
    def counts_by_type(self) -> dict[str, int]:
        return count_types(self._findings)

    def feed(self, text: str) -> Step:
        if self._finished:
            raise ValueError("StreamRedactor.feed() after finish()")
        if self._stop is not None:
            return self._stop
        self._buffer += text
        start = self._emitted - self._base
        live, matches, self._pending = self._scanner.step(self._buffer, start, self._pending)
        spans = [(m.start, m.end) for m in matches]
        hits = [m.hit for m in matches if m.hit is not None]
        if views.may_change(self._buffer):
            view_start = self._view_start(start)
            view = views.build(self._buffer[view_start:], final=False)
            view_live, view_matches, _ = self._scanner.step(view.text, view.view_offset(start - view_start))
            live = min(live, view_start + view.orig_start(view_live))
            mapped = _mapped(view, view_start, view_matches)
            spans += [(start, end) for start, end, _ in mapped]
            hits += [hit for _, _, hit in mapped if hit is not None]
        return self._settle(_cut_outside(live, spans), hits)

    def feed_split(self, deltas: Sequence[str]) -> list[Step]:
        """``feed`` of the deltas joined (one scan for them all), its step split among them: the
        texts of the steps joined are that step's text, and each delta's step emits the text of
        its own span of the input. The text held before goes out with the first delta; a value
        that a delta's end cuts goes out whole with the delta where it ends (its findings with
        it); the stopping finding's delta carries the verdict, and every later one the stop.

        For the deltas of one chunk of a stream, which go out together anyway: one scan of the
        chunk's text instead of one per delta, and each delta's own text unchanged wherever
        nothing was found and nothing is held."""
        if len(deltas) < 2 or self._stop is not None:
            return [self.feed(delta) for delta in deltas]
        base, emitted = self._base, self._emitted
        text = self._buffer + "".join(deltas)  # the input from offset ``base``
        ends = list(accumulate((len(delta) for delta in deltas), initial=base + len(self._buffer)))[1:]
        whole = self.feed(text[len(self._buffer) :])
        cut = self._emitted if whole.stopped_by is None else whole.stopped_by.end
        findings = sorted(whole.findings, key=lambda finding: finding.start)
        steps: list[Step] = []
        start, index = emitted, 0
        for end in ends[:-1]:
            stop = min(max(end, start), cut)
            own = []
            while index < len(findings) and findings[index].end <= stop:
                own.append(findings[index])
                index += 1
            if index < len(findings) and findings[index].start < stop:
                # A finding that this cut would split goes out with the delta where it ends.
                stop = findings[index].start
            steps.append(self._part(text[start - base : stop - base], start, own))
            start = stop
            if steps[-1].verdict is not None:
                return steps + [self._stop or whole] * (len(deltas) - len(steps))
        steps.append(self._part(text[start - base : cut - base], start, findings[index:]))
        return steps

    def _part(self, segment: str, start: int, own: list[Finding]) -> Step:
        """The step of one delta of ``feed_split``: its span of the input (from ``start``) rewritten."""
        if not own:
            return Step(segment)
        rewritten, stopped_by = rewrite(segment, start, own, self._table, stop=True)
        if stopped_by is None or self._stop is None:
            return Step(rewritten, tuple(own))
        return Step(rewritten, tuple(own), self._stop.verdict, stopped_by)

    def finish(self) -> Step:
        """Emit what is held: the text has ended, so every match is final."""
        if self._finished:
            raise ValueError("StreamRedactor.finish() called twice")
        self._finished = True
        if self._stop is not None:
            return self._stop
        start = self._emitted - self._base
        hits = [m.hit for m in self._scanner.matches(self._buffer, start) if m.hit is not None]
        if views.may_change(self._buffer):
            view_start = self._view_start(start)
            view = views.build(self._buffer[view_start:])
            view_matches = self._scanner.matches(view.text, view.view_offset(start - view_start))
            hits += [hit for _, _, hit in _mapped(view, view_start, view_matches) if hit is not None]
        return self._settle(len(self._buffer), hits)

    def _view_start(self, start: int) -> int:
        """Where to build the view from: some context before ``start``, not inside an escape."""
        return views.token_boundary(self._buffer, max(0, start - _VIEW_CONTEXT))

    def _settle(self, cut: int, all_hits: list[Hit]) -> Step:
        """Emit the text up to ``cut`` (a buffer offset no match straddles)."""
        start = self._emitted - self._base
        if cut <= start:
            return Step("")
        hits = settle_overlaps([hit for hit in all_hits if hit.match_start < cut])
        findings = [self._scanner.finding(hit, self._base) for hit in hits]
        text, stopped_by = rewrite(self._buffer[start:cut], self._emitted, findings, self._table, stop=True)
        if stopped_by is not None:
            findings = [f for f in findings if f.start <= stopped_by.start]
        self._findings.extend(findings)
        self._advance(cut)
        if stopped_by is None:
            return Step(text, tuple(findings))
        action = self._table.action_for(stopped_by.type, stopped_by.category)
        verdict: Verdict = "block" if action == "block" else "end_stream"
        self._stop = Step("", (), verdict, stopped_by)
        return Step(text, tuple(findings), verdict, stopped_by)

    def _advance(self, cut: int) -> None:
        self._emitted = self._base + cut
        keep_from = max(0, cut - _LOOKBEHIND_CONTEXT)
        if keep_from:
            self._buffer = self._buffer[keep_from:]
            self._base += keep_from
            self._pending = self._pending.shifted(-keep_from)


def _cut_outside(cut: int, spans: list[tuple[int, int]]) -> int:
    """Move the cut back until no match (given as its span) straddles it."""
    while True:
        straddling = [start for start, end in spans if start < cut < end]
        if not straddling:
            return cut
        cut = min(straddling)


def _mapped(view: views.View, offset: int, matches: list[Match]) -> list[tuple[int, int, Hit | None]]:
    """Matches in a view of the buffer from ``offset``, as buffer spans (and hits)."""
    mapped: list[tuple[int, int, Hit | None]] = []
    for match in matches:
        start, end = view.span(match.start, match.end)
        hit = None if match.hit is None else view_hit(view, match.hit, offset)
        mapped.append((start + offset, end + offset, hit))
    return mapped
