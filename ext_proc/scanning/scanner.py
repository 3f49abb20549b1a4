"""Finding every detector's matches in a text: hyperscan to locate, ``regex`` to confirm.

Block scanning runs one hyperscan pass over the whole text with every detector's anchor, turns
the reported spans into regions where the detector's exact pattern could start, and runs the exact
pattern only there (reading at most ``max_len`` further). Because each detector's anchor matches
wherever its exact pattern starts, and the exact pattern is resumed where the previous match of the
same detector ended, the result is the same as ``finditer`` over the whole text, at hyperscan's
speed for the text in between.

Streaming (``stream.py``) also needs the *live point* of a partial text: the leftmost position
from which more text could still produce or extend a match. ``step`` finds it with a hyperscan
pass of every detector's ``live`` pattern anchored at the end of the new text; only detectors
whose ``live`` pattern reaches the end are checked exactly, with ``regex`` partial matching, from
where it starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import regex

from ext_proc.scanning import views
from ext_proc.scanning.detectors import CONTEXT_CHARS, FINDING_TYPES, Detector, detectors_for
from ext_proc.scanning.findings import Finding, Hit, settle_overlaps
from ext_proc.scanning.hyperscan_db import BlockDatabase, HsPattern, scan_bytes
from ext_proc.scanning.views import View

# Up to this many possible starts, exact matches are tried one position at a time.
_FEW_STARTS = 12
# Held text up to this long is rescanned by the live gate; longer holds are checked exactly.
_GATE_SPAN = 256


@dataclass(frozen=True, slots=True)
class Pending:
    """What the previous ``step`` over the same growing text left open: how much text it saw, and
    for each detector with an attempt running into the end, where the leftmost such attempt
    starts. Offsets are into the text given to ``step``."""

    seen: int = 0
    live: tuple[tuple[int, int], ...] = ()  # (detector rank, start)

    def shifted(self, by: int) -> Pending:
        return Pending(self.seen + by, tuple((rank, start + by) for rank, start in self.live))


@dataclass(frozen=True, slots=True)
class Match:
    """One exact-pattern match (validated or not: a rejected match still consumes its text)."""

    rank: int
    start: int
    end: int
    hit: Hit | None


class Scanner:
    """The detectors compiled once (about 0.2 s). Immutable; share it across requests and threads.

    ``scan`` reads the text and its normalized view (``views.py``: escapes, URL encoding, HTML
    references, invisible characters, look-alikes), and a segment detector's decoded text with the
    value detectors (``segments``, itself a scanner without segment detectors)."""

    def __init__(self, detectors: Sequence[Detector] | None = None, *, phone_region: str = "US") -> None:
        self.detectors = tuple(detectors_for(phone_region) if detectors is None else detectors)
        self.phone_region = phone_region
        values = tuple(d for d in self.detectors if d.decode is None)
        self._segments: Scanner | None = None
        if len(values) < len(self.detectors):
            self._segments = Scanner(values, phone_region=phone_region)
        anchors = [
            HsPattern(rank, d.anchor, caseless=d.caseless, start=d.anchor_start)
            for rank, d in enumerate(self.detectors)
        ]
        self._anchors = BlockDatabase(anchors)
        # How far past a position an anchor for a match starting there can end.
        self._anchor_reach = max([128] + [d.max_len for d in self.detectors if not d.anchor_start])
        # A detector's pattern followed by one more character and a certain failure: it never
        # matches completely, so a partial search reports the leftmost position whose match
        # attempt runs into the end of the text (a complete match ending there included).
        self._live_checks = tuple(
            regex.compile(rf"(?:{d.pattern.pattern})[\s\S](?!)", regex.ASCII) for d in self.detectors
        )

    def scan(self, text: str) -> list[Finding]:
        """Findings in ``text`` and in its normalized view: validated, overlaps settled, in order."""
        hits = [m.hit for m in self.matches(text, 0) if m.hit is not None]
        if views.may_change(text):
            view = views.build(text)
            if view.changed:
                hits += [view_hit(view, m.hit) for m in self.matches(view.text, 0) if m.hit is not None]
        return [self.finding(hit) for hit in settle_overlaps(hits)]

    def finding(self, hit: Hit, offset: int = 0) -> Finding:
        kind = hit.kind or self.detectors[hit.rank].type
        return Finding(kind, FINDING_TYPES[kind], hit.start + offset, hit.end + offset)

    def matches(self, text: str, pos: int) -> list[Match]:
        """Every detector's matches from ``pos`` to the end of ``text``, as ``finditer`` from
        ``pos`` gives them (text before ``pos`` is only look-behind context)."""
        found = self._anchors.scan(scan_bytes(text[pos:]))
        return list(self._confirm_all(text, pos, len(text), found))

    def step(self, text: str, pos: int, pending: Pending = Pending()) -> tuple[int, list[Match], Pending]:
        """For a text that may go on: its live point (``len(text)`` when nothing is pending), the
        matches that start in ``[pos, live point)``, which no further text can change, and what
        to pass to the next step once more text has been appended.

        A position whose attempt did not reach the end of the text never will, so live points
        only move forward as text is added: a detector live before is re-checked from where it
        was, and the others only in the new text, gated by their ``live`` patterns."""
        end = len(text)
        fresh = max(pos, pending.seen)
        previous = dict(pending.live)
        earliest = min(previous.values(), default=fresh)
        # The gate rescans the text of short holds; a long hold (inside a key) is checked exactly.
        gate_from = earliest if fresh - earliest <= _GATE_SPAN else fresh
        candidates = {rank: max(start, pos) for rank, start in pending.live if start < gate_from}
        for rank, start, _ in self._lives.scan(scan_bytes(text[gate_from:])):
            if rank not in candidates:
                candidates[rank] = max(start + gate_from, previous.get(rank, fresh))
        # Checked exactly from the leftmost candidate on; a detector whose candidate is not left
        # of the live point found so far cannot move it, and keeps its candidate (a lower bound
        # of its own live point) to be checked from there next time.
        lives: dict[int, int] = {}
        live = end
        for rank, candidate in sorted(candidates.items(), key=lambda item: item[1]):
            lives[rank] = candidate if candidate >= live else self._live_point(text, rank, candidate)
            live = min(live, lives[rank])
        still = tuple((rank, start) for rank, start in sorted(lives.items()) if start < end)
        if live == pos:
            return live, [], Pending(end, still)
        found = self._anchors.scan(scan_bytes(text[pos : live + self._anchor_reach]))
        return live, list(self._confirm_all(text, pos, live, found)), Pending(end, still)

    @cached_property
    def _lives(self) -> BlockDatabase:
        """The live patterns, compiled when a first stream steps (a segment scanner never does)."""
        lives = [
            HsPattern(rank, rf"(?:{d.live})\z", caseless=d.caseless) for rank, d in enumerate(self.detectors)
        ]
        return BlockDatabase(lives)

    def _live_point(self, text: str, rank: int, candidate: int) -> int:
        # An attempt that reaches the end reads at most max_len characters, plus the probe.
        start = max(candidate, len(text) - self.detectors[rank].max_len - 1)
        found = self._live_checks[rank].search(text, start, partial=True)
        return len(text) if found is None else found.start()

    def _confirm_all(
        self, text: str, pos: int, limit: int, found: list[tuple[int, int, int]]
    ) -> Iterator[Match]:
        """Exact matches starting in ``[pos, limit)``, from anchor spans found in ``text[pos:]``."""
        starts: dict[int, list[tuple[int, int]]] = {}
        for rank, start, end in found:
            first, last = _possible_starts(self.detectors[rank], start + pos, end + pos)
            if first < limit:
                starts.setdefault(rank, []).append((max(first, pos), min(last, limit)))
        for rank, rank_starts in sorted(starts.items()):
            last_end = pos
            for region_start, region_end in _merged(rank_starts):
                for match in self._confirm(text, rank, max(region_start, last_end), region_end):
                    last_end = match.end
                    yield match

    def _confirm(self, text: str, rank: int, pos: int, limit: int) -> Iterator[Match]:
        """The detector's exact matches starting in ``[pos, limit)``, as ``finditer`` from ``pos``
        gives them. Reads up to ``max_len`` past ``limit``: all an attempt starting before
        ``limit`` can read, and no more, so the search does not wander on."""
        detector = self.detectors[rank]
        endpos = min(len(text), limit + detector.max_len)
        if limit - pos <= _FEW_STARTS:
            # finditer is a match attempt at each position in turn; a few are cheaper one by one
            # than a search that would go on scanning up to endpos.
            while pos < limit:
                found = detector.pattern.match(text, pos, endpos)
                if found is None:
                    pos += 1
                    continue
                yield Match(rank, found.start(), found.end(), self._validated(detector, rank, found))
                pos = found.end()
            return
        for found in detector.pattern.finditer(text, pos, endpos):
            if found.start() >= limit:
                return
            yield Match(rank, found.start(), found.end(), self._validated(detector, rank, found))
            if found.end() >= limit:
                return

    def _validated(self, detector: Detector, rank: int, found: regex.Match[str]) -> Hit | None:
        if (
            detector.context is not None
            and not any(char in found.group() for char in detector.context_exempt)
            and detector.context.search(found.string, max(0, found.start() - CONTEXT_CHARS), found.start())
        ):
            return None
        start, end = found.span("v") if "v" in detector.pattern.groupindex else found.span()
        length = detector.validate(found.string[start:end])
        if length is None:
            return None
        kind = None
        if detector.decode is not None:
            kind = self._segment_kind(detector.decode(found.string[start : start + length]))
            if kind is None:
                return None
        return Hit(rank, start, start + length, found.start(), found.end(), kind)

    def _segment_kind(self, decoded: str | None) -> str | None:
        """The type of the first value found in a decoded segment, if any."""
        if decoded is None or self._segments is None:
            return None
        found = self._segments.scan(decoded)
        return found[0].type if found else None


def _possible_starts(detector: Detector, start: int, end: int) -> tuple[int, int]:
    """Where the detector's pattern can start, given an anchor match reported as (start, end):
    the pattern starts where an anchor match starts, and an anchor match ending at ``end`` starts
    at or after the reported leftmost ``start`` and at least ``anchor_min_len`` before ``end``."""
    if detector.anchor_start:
        return start, end - detector.anchor_min_len + 1
    return max(0, end - detector.max_len), end


def view_hit(view: View, hit: Hit, offset: int = 0) -> Hit:
    """A hit in a normalized view, as the span of the original text it was read from (the view
    being that of the text from ``offset``)."""
    start, end = view.span(hit.start, hit.end)
    match_start, match_end = view.span(hit.match_start, hit.match_end)
    return Hit(hit.rank, start + offset, end + offset, match_start + offset, match_end + offset, hit.kind)


def _merged(spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    spans.sort()
    current_start, current_end = -1, -1
    for start, end in spans:
        if start > current_end:
            if current_end > current_start:
                yield current_start, current_end
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end > current_start:
        yield current_start, current_end
