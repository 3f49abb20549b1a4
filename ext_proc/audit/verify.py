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

What is accepted as recorded, not broken:

- a jump in ``seq`` that an ``audit_gap`` event explains: the gap is the event right after the
  jump and names exactly the missing run (``first_seq`` to ``last_seq``); its ``prev`` links to
  the last lost event and is not checkable, so the gap is reported;
- a damaged line that the next audit line repeats whole (a write cut short by a full disk and
  retried), or that an ``audit_gap`` right after it covers.

Checkpoints (checkpoints.py) pin the head: with a public key every ``checkpoint`` must carry a
valid signature by it; with an anchor (the line of the last checkpoint, kept elsewhere) the log
must contain that checkpoint, or it was cut short. Without either, a log cut at its end is a
valid chain: the report says how many events follow the last checkpoint, and whether the last
segment ended with a final one (a clean shutdown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ext_proc.audit.chain import CHAIN_START, ChainHead, event_hash
from ext_proc.audit.checkpoints import CHECKPOINT, signature_valid

AUDIT_GAP = "audit_gap"


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
    # The seq of its last checkpoint, and whether that one was final (a clean shutdown).
    checkpoint_seq: int | None = None
    ended: bool = False


@dataclass(frozen=True, slots=True)
class RecordedGap:
    source: str
    line: int
    chain: str
    first_seq: int
    last_seq: int
    sink: str
    reason: str


@dataclass(slots=True)
class Report:
    events: int = 0
    skipped: int = 0
    segments: list[Segment] = field(default_factory=list)
    gaps: list[RecordedGap] = field(default_factory=list)
    checkpoints: int = 0
    signed: int = 0
    anchor_found: bool | None = None  # None: no anchor given
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def unconfirmed(self) -> int:
        """Events of the last segment after its last checkpoint (a cut there goes unseen)."""
        if not self.segments:
            return 0
        last = self.segments[-1]
        covered = last.checkpoint_seq if last.checkpoint_seq is not None else last.first_seq - 1
        return last.last_seq - covered


class Verifier:
    def __init__(self, public_key: Any = None, anchor: ChainHead | None = None) -> None:
        self.report = Report(anchor_found=False if anchor is not None else None)
        self._head: ChainHead | None = None
        self._public_key = public_key
        self._anchor = anchor
        self._damaged: tuple[str, int, bytes] | None = None
        self._damaged_at: tuple[str, int] | None = None  # where to report a damaged line
        self._source = ""
        self._number = 0

    def feed(self, source: str, number: int, line: bytes) -> bool:
        """Check one line; False once a problem was found (the rest is not checked)."""
        if self.report.problem is not None:
            return False
        self._source, self._number = source, number
        problem = self._check(line)
        if problem is not None:
            where = self._damaged_at or (source, number)
            self.report.problem = Problem(*where, problem)
            return False
        return True

    def finish(self) -> Report:
        """The end of the input: a damaged last line, or an anchor never met, is a problem."""
        if self.report.problem is None and self._damaged is not None:
            source, number, _ = self._damaged
            self.report.problem = Problem(source, number, _DAMAGED)
        if self.report.problem is None and self.report.anchor_found is False:
            assert self._anchor is not None
            self.report.problem = Problem(
                self._source,
                self._number,
                f"the log ends before its anchored checkpoint (chain {self._anchor.chain} seq "
                f"{self._anchor.seq}): events were cut off its end",
            )
        return self.report

    def _check(self, line: bytes) -> str | None:
        event = _parse(line)
        if event is None:
            if b'"audit"' in line and line.strip():
                return self._damaged_line(line)
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
        problem = self._repaired(event, line) or self._link(event, head, prev)
        if problem is None:
            self.report.events += 1
            self._head = head
            self._checked(event, head)
        return problem

    def _damaged_line(self, line: bytes) -> str | None:
        if self._damaged is not None:
            return _DAMAGED
        self._damaged = (self._source, self._number, line.rstrip(b"\n"))
        return None

    def _repaired(self, event: dict[str, Any], line: bytes) -> str | None:
        """A damaged line before this event is accepted when this event repeats it whole, or is
        the audit_gap that records its loss."""
        if self._damaged is None:
            return None
        source, number, fragment = self._damaged
        self._damaged = None
        follows = self._head is not None and event.get("seq") == self._head.seq + 1
        if (follows and line.startswith(fragment)) or event.get("event") == AUDIT_GAP:
            return None
        self._damaged_at = (source, number)
        return _DAMAGED

    def _checked(self, event: dict[str, Any], head: ChainHead) -> None:
        if head == self._anchor:
            self.report.anchor_found = True
        if event.get("event") == CHECKPOINT:
            self.report.checkpoints += 1
            self.report.signed += "signature" in event
            segment = self.report.segments[-1]
            segment.checkpoint_seq, segment.ended = head.seq, event.get("final") is True

    def _link(self, event: dict[str, Any], head: ChainHead, prev: str | None) -> str | None:
        last = self._head
        if head.seq == 0:
            if event.get("event") != CHAIN_START:
                return f"seq 0 of chain {head.chain} is not a {CHAIN_START} event"
            return self._new_segment(event, head, prev, last)
        if last is None:
            self.report.segments.append(Segment(head.chain, head.seq, head.seq, "continues"))
            return self._signature(event)
        if head.chain != last.chain:
            return (
                f"an event of chain {head.chain} (seq {head.seq}) follows chain {last.chain} "
                f"(seq {last.seq}) without a {CHAIN_START}: events were removed or reordered"
            )
        if head.seq != last.seq + 1:
            if not self._recorded_gap(event, head, last):
                return _seq_problem(head.seq, last.seq)
        elif prev != last.hash:
            return "prev is not the hash of the event before it: that event was altered or replaced"
        self.report.segments[-1].last_seq = head.seq
        return self._signature(event)

    def _recorded_gap(self, event: dict[str, Any], head: ChainHead, last: ChainHead) -> bool:
        if event.get("event") != AUDIT_GAP:
            return False
        first, final = event.get("first_seq"), event.get("last_seq")
        if (first, final) != (last.seq + 1, head.seq - 1):
            return False
        self.report.gaps.append(
            RecordedGap(
                self._source, self._number, head.chain, last.seq + 1, head.seq - 1,
                str(event.get("sink")), str(event.get("reason")),
            )
        )  # fmt: skip
        return True

    def _signature(self, event: dict[str, Any]) -> str | None:
        if self._public_key is None or event.get("event") != CHECKPOINT:
            return None
        if "signature" not in event:
            return "a checkpoint without a signature (a key was given: every checkpoint must be signed)"
        if not signature_valid(self._public_key, event):
            return "a checkpoint whose signature does not verify with the given key: forged or altered"
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


_DAMAGED = "an audit event that is not valid JSON (a damaged or truncated line)"


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
