"""Scanning every string of the documents of one response (``leaves.py``), for sensitive data and
prompt injection, remembering the strings found clean.

A streamed response repeats the same strings in every event (ids, the model, the object type,
the keys): each distinct short string is scanned once per response, so reading every leaf of
every event costs a walk and a set lookup for what was seen before. The scans themselves are
``guard.scan``'s, so what the policy sees (``findings_input``, ``injection_input``) and what is
applied (``guard.apply``) are the same as for any other body.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ext_proc.inspection.guard import TextScan, scan
from ext_proc.inspection.leaves import Path, is_key, leaves
from ext_proc.inspection.request import INJECTION_SOURCES, OTHER, ScanText
from ext_proc.scanning.scanner import Scanner

# Strings up to this long are remembered when clean; the memory is bounded per response.
_REMEMBER_CHARS = 512
_REMEMBER_COUNT = 4096


class LeafScanner:
    """One per response. ``source`` says who wrote the strings (``request.TOOL_RESULT`` for what
    a tool or another agent sends: prompt injection in it is indirect)."""

    __slots__ = ("_clean", "_scanner", "_source")

    def __init__(self, source: str, *, scanner: Scanner | None = None) -> None:
        self._source = source
        self._scanner = scanner
        self._clean: dict[tuple[str, bool], None] = {}  # (text, scored for injection)

    def scan(
        self, document: Any, *, skip: Collection[Path] = (), own: Collection[Path] = ()
    ) -> tuple[TextScan, ...]:
        """The strings of ``document`` in which something was found.

        ``skip``: locations read elsewhere (the delta channels of a stream). ``own``: locations of
        the model's own output, scanned for sensitive data only (its text is not input to it)."""
        scored_source = self._source in INJECTION_SOURCES
        clean = self._clean
        texts: list[ScanText] = []
        for path, text in leaves(document, skip=skip):
            scored = scored_source and path not in own
            if (text, scored) in clean:
                continue
            kind = "key" if is_key(path) else "value"
            texts.append(ScanText(path, text, self._source if scored else OTHER, kind))
        if not texts:
            return ()
        found = []
        for result in scan(texts, scanner=self._scanner):
            if result.findings or (result.injection is not None and result.injection.signals):
                found.append(result)
            else:
                self._remember(result.text)
        return tuple(found)

    def _remember(self, text: ScanText) -> None:
        if len(text.text) > _REMEMBER_CHARS:
            return
        if len(self._clean) >= _REMEMBER_COUNT:
            self._clean.clear()
        self._clean[(text.text, text.source in INJECTION_SOURCES)] = None
