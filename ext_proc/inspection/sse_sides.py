"""The strings of an event stream outside the events' data: comments, event names and ids.

Clients do not hand comments to the application, but whoever reads the raw stream does, and
event names and ids reach it (``event.event``, ``lastEventId``). They are scanned for sensitive
data like the rest (prompt injection is looked for in the data, which is what reaches a model):

- an event whose other strings hold something is re-encoded from its fields, with its name and
  id redacted and its comments dropped (``SseParser(strict=True)`` collects them in ``extras``);
- lines between events (keep-alive comments, blocks without data) are redacted as text: a
  placeholder holds no line break, so the lines stay what they were.

A finding whose action stops the stream is reported in ``Sides.stopped_by``.
"""

from __future__ import annotations

from collections import Counter

from ext_proc.inspection.guard import apply
from ext_proc.inspection.leaf_scan import LeafScanner
from ext_proc.inspection.request import OTHER
from ext_proc.protocols.sse import SseEvent, encode_event
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.redaction import redact_text
from ext_proc.scanning.scanner import Scanner


class Sides:
    """One per stream."""

    def __init__(
        self,
        table: ActionTable,
        *,
        scanner: Scanner | None = None,
        findings: Counter[str] | None = None,
        redacted: Counter[str] | None = None,
    ) -> None:
        self._table = table
        self._scanner = scanner
        self._leaves = LeafScanner(OTHER, scanner=scanner)
        self.stopped_by: str | None = None
        # Counts by finding type (the relay's own counters, to add to them).
        self.findings: Counter[str] = Counter() if findings is None else findings
        self.redacted: Counter[str] = Counter() if redacted is None else redacted

    def event(self, event: SseEvent) -> SseEvent:
        """The event to read and forward: itself, or re-encoded without what was found."""
        if not event.extras:
            return event
        scans = self._leaves.scan(list(event.extras))
        if not scans:
            return event
        for scanned in scans:
            self._count(scanned.findings)
        applied = apply(scans, self._table, strip=False)
        if applied.blocked_by is not None:
            self.stopped_by = applied.blocked_by
            return event
        new = {text.text: replacement for text, replacement in applied.replacements}
        name = new.get(event.event, event.event) if event.event else event.event
        ident = new.get(event.id, event.id) if event.id else event.id
        cleaned = SseEvent(event.data, name, ident, event.retry)
        return SseEvent(event.data, name, ident, event.retry, encode_event(cleaned))

    def idle(self, data: bytes) -> bytes:
        """Lines between events, redacted."""
        if not data:
            return data
        text = data.decode()  # the parser checked it is UTF-8
        redaction = redact_text(text, self._table, scanner=self._scanner)
        if not redaction.findings:
            return data
        self._count(redaction.findings)
        if redaction.verdict is not None and redaction.stopped_by is not None:
            self.stopped_by = redaction.stopped_by.type
            return b""
        return redaction.text.encode()

    def _count(self, findings: tuple[object, ...]) -> None:
        for finding in findings:
            kind, category = finding.type, finding.category  # type: ignore[attr-defined]
            self.findings[kind] += 1
            if self._table.action_for(kind, category) == "redact":
                self.redacted[kind] += 1
