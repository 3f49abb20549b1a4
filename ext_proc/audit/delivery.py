"""Delivering sealed audit lines to one sink, through failures: a bounded buffer, then a gap.

A line the sink refuses (a full disk, a closed pipe) waits in a buffer of at most ``max_bytes``
and is written, in order, before anything newer once the sink takes lines again. When the buffer
is full, the line is lost, and so is every line after it until the buffer is written out (lines
are never written out of order, so what is missing is one run of sequence numbers). The audit log
then records the run as an ``audit_gap`` event in the chain (``take_gap``): a reader of this sink
sees exactly which events it lacks and why, and the verifier accepts the jump only as recorded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ext_proc.audit.sinks import Sink
from ext_proc.safe_errors import safe_message


@dataclass(frozen=True, slots=True)
class Gap:
    """Events of this chain that one sink never received."""

    sink: str
    first_seq: int
    last_seq: int
    reason: str

    @property
    def lost(self) -> int:
        return self.last_seq - self.first_seq + 1


class Delivery:
    def __init__(self, sink: Sink, max_bytes: int) -> None:
        self.sink = sink
        self.max_bytes = max_bytes
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._lost_from: int | None = None
        self.reason = ""
        self.failures = 0  # write errors, for the metric

    @property
    def name(self) -> str:
        return self.sink.name

    @property
    def failing(self) -> bool:
        return bool(self._pending) or self._lost_from is not None

    @property
    def buffered(self) -> int:
        return len(self._pending)

    def deliver(self, seq: int, line: bytes) -> bool:
        """Write the line now (True), or hold or lose it while the sink fails (False)."""
        if self._lost_from is not None:
            return False  # part of the lost run, until its audit_gap is recorded (take_gap)
        if self._pending and not self.flush():
            self._hold(seq, line)
            return False
        try:
            self.sink.write(line)
        except OSError as exc:
            self._failed(exc)
            self._hold(seq, line)
            return False
        return True

    def flush(self) -> bool:
        """Write what is held, oldest first; True when nothing is held any more."""
        while self._pending:
            line = self._pending[0]
            try:
                self.sink.write(line)
            except OSError as exc:
                self._failed(exc)
                return False
            self._pending.popleft()
            self._pending_bytes -= len(line)
        return True

    def take_gap(self, last_seq: int) -> Gap | None:
        """After a flush that emptied the buffer: the run of lost events up to ``last_seq`` (the
        chain's newest event), once; None when nothing was lost."""
        if self._pending or self._lost_from is None:
            return None
        gap = Gap(self.name, self._lost_from, last_seq, self.reason)
        self._lost_from = None
        return gap

    def _hold(self, seq: int, line: bytes) -> None:
        if self._lost_from is None and self._pending_bytes + len(line) <= self.max_bytes:
            self._pending.append(line)
            self._pending_bytes += len(line)
        elif self._lost_from is None:
            self._lost_from = seq

    def _failed(self, exc: OSError) -> None:
        self.failures += 1
        self.reason = exc.strerror or safe_message(exc)
