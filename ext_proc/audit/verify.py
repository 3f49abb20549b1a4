"""Check an audit log's hash chain and report the first broken link. Pure: lines in, report out.

Lines that are not audit events (other JSON log lines, console text) are skipped: the service
writes its operational log to the same standard output. A verifier may be fed several files one
after the other (a rotated set, oldest first) as one log.

What a broken link means, in the order checked:

- the event's own hash does not match its content: a field was edited;
- ``seq`` does not follow the previous event's: an event was deleted, or events were reordered
  (the chain's own ``chain_start`` is seq 0);
- ``prev`` is not the previous event's hash: the previous event was replaced (an edit whose hash
  was recomputed, a forged line) or removed;
- a segment's ``chain_start`` names a previous event other than the last one read.

A plain hash chain cannot show that the newest events were cut off the end, nor tell a whole
rewritten tail from the original: keep a copy of recent chain heads elsewhere for that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ext_proc.audit.chain import CHAIN_START, ChainHead, event_hash


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass(slots=True)
class Segment:
    chain: str
    first_seq: int
    last_seq: int
    # "linked": its chain_start names the segment read before it; "alone": it names none
    # (standard output); "continues": the input starts inside it, or after a segment not read.
    link: str


@dataclass(slots=True)
class Report:
    events: int = 0
    skipped: int = 0
    segments: list[Segment] = field(default_factory=list)
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class Verifier:
    def __init__(self) -> None:
        self.report = Report()
        self._head: ChainHead | None = None

    def feed(self, source: str, number: int, line: bytes) -> bool:
        """Check one line; False once a problem was found (the rest is not checked)."""
        if self.report.problem is not None:
            return False
        problem = self._check(line)
        if problem is not None:
            self.report.problem = Problem(source, number, problem)
            return False
        return True

    def _check(self, line: bytes) -> str | None:
        event = _parse(line)
        if event is None:
            if b'"audit"' in line and line.strip():
                return "an audit event that is not valid JSON (a damaged or truncated line)"
            self.report.skipped += 1
            return None
        if "audit" not in event:
            self.report.skipped += 1
            return None
        head = ChainHead.of(event)
        prev = event.get("prev")
        if head is None or (prev is not None and not isinstance(prev, str)):
            return "a malformed audit event: chain, seq, prev or hash is missing or of the wrong type"
        if head.hash != event_hash(event):
            return "the event was altered: its hash does not match its content"
        problem = self._link(event, head, prev)
        if problem is None:
            self.report.events += 1
            self._head = head
        return problem

    def _link(self, event: dict[str, Any], head: ChainHead, prev: str | None) -> str | None:
        last = self._head
        if head.seq == 0:
            if event.get("event") != CHAIN_START:
                return f"seq 0 of chain {head.chain} is not a {CHAIN_START} event"
            return self._new_segment(event, head, prev, last)
        if last is None:
            self.report.segments.append(Segment(head.chain, head.seq, head.seq, "continues"))
            return None
        if head.chain != last.chain:
            return (
                f"an event of chain {head.chain} (seq {head.seq}) follows chain {last.chain} "
                f"(seq {last.seq}) without a {CHAIN_START}: events were removed or reordered"
            )
        if head.seq != last.seq + 1:
            return _seq_problem(head.seq, last.seq)
        if prev != last.hash:
            return "prev is not the hash of the event before it: that event was altered or replaced"
        self.report.segments[-1].last_seq = head.seq
        return None

    def _new_segment(
        self, event: dict[str, Any], head: ChainHead, prev: str | None, last: ChainHead | None
    ) -> str | None:
        if prev is None:
            self.report.segments.append(Segment(head.chain, 0, 0, "alone"))
            return None
        if last is None:
            self.report.segments.append(Segment(head.chain, 0, 0, "continues"))
            return None
        if (event.get("prev_chain"), event.get("prev_seq"), prev) != (last.chain, last.seq, last.hash):
            return (
                f"chain {head.chain} starts after chain {event.get('prev_chain')} seq "
                f"{event.get('prev_seq')}, but the last event read is chain {last.chain} seq {last.seq}: "
                "events were removed or altered at the end of the previous segment"
            )
        self.report.segments.append(Segment(head.chain, 0, 0, "linked"))
        return None


def _seq_problem(seq: int, last: int) -> str:
    if seq <= last:
        return f"seq {seq} follows seq {last}: events are out of order or repeated"
    missing = seq - last - 1
    return f"seq {seq} follows seq {last}: {missing} event{'s' if missing > 1 else ''} missing, or reordered"


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
