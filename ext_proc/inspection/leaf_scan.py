"""Scanning every string of the documents of one response (``leaves.py``), for sensitive data and
prompt injection, remembering the strings found clean.

A streamed response repeats the same strings in every event (ids, the model, the object type,
the keys), and every response of an API repeats its keys: a short string found clean is
remembered (per scanner, in a bounded set the process shares: the scanners are pure functions of
the string), so reading every leaf of every event costs a walk and a set lookup for what was
seen before. The request's strings that an answer repeats (the model, the keys: the ``echo``)
are read without injection scoring, so they are remembered in the memory of unscored reading,
and skipped there too. The walk builds a string's location only when the string is not known
clean. The
scans themselves are ``guard.scan``'s, so what the policy sees (``findings_input``,
``injection_input``) and what is applied (``guard.apply``) are the same as for any other body.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ext_proc.inspection.guard import TextScan, scan
from ext_proc.inspection.leaves import Key, Path
from ext_proc.inspection.request import INJECTION_SOURCES, OTHER, ScanText
from ext_proc.scanning.redaction import default_scanner
from ext_proc.scanning.scanner import Scanner

# Strings up to this long are remembered when clean, up to this many per scanner (then the
# memory starts again: bounded, a few MB at most).
_REMEMBER_CHARS = 256
_REMEMBER_COUNT = 16384
# (scanner, scored for injection) -> strings found clean. Set operations hold the GIL: threads
# may share it.
_KNOWN_CLEAN: dict[tuple[int, bool], set[str]] = {}


class LeafScanner:
    """One per response. ``source`` says who wrote the strings (``request.TOOL_RESULT`` for what
    a tool or another agent sends: prompt injection in it is indirect). ``echo``: strings the
    agent itself sent in the request, which an API may repeat (the Responses API echoes the
    instructions and tools): scanned for sensitive data, not scored as injection coming back."""

    __slots__ = ("_clean", "_echo", "_echo_clean", "_scanner", "_scored", "_source")

    def __init__(self, source: str, *, scanner: Scanner | None = None, echo: Collection[str] = ()) -> None:
        self._source = source
        self._echo = echo
        self._scored = source in INJECTION_SOURCES
        self._scanner = scanner
        # Strings in which nothing was found, as this scanner reads them (for sensitive data, and
        # for injection when the source is scored).
        scanner_id = id(scanner or default_scanner())
        self._clean = _KNOWN_CLEAN.setdefault((scanner_id, self._scored), set())
        # Strings found clean without injection scoring: an echoed string in it is known clean.
        self._echo_clean = _KNOWN_CLEAN.setdefault((scanner_id, False), set())

    def scan(
        self, document: Any, *, skip: Collection[Path] = (), own: Collection[Path] = ()
    ) -> tuple[TextScan, ...]:
        """The strings of ``document``, object keys included, in which something was found.

        ``skip``: locations read elsewhere (the delta channels of a stream). ``own``: locations of
        the model's own output, scanned for sensitive data only (its text is not input to it)."""
        texts = self._unknown(document, skip, own)
        if not texts:
            return ()
        found = []
        for result in scan(texts, scanner=self._scanner):
            if result.findings or (result.injection is not None and result.injection.signals):
                found.append(result)
            else:
                self._remember(result.text)
        return tuple(found)

    def _unknown(self, document: Any, skip: Collection[Path], own: Collection[Path]) -> list[ScanText]:
        """The strings not known clean, with their locations. The walk has no recursion (the
        parsers bound the depth), and its order does not matter: each string is judged alone."""
        clean, echo, echo_clean = self._clean, self._echo, self._echo_clean
        texts: list[ScanText] = []
        if type(document) is str:
            if document not in clean and () not in skip and not (document in echo_clean and document in echo):
                texts.append(self._text((), document, own))
            return texts
        stack: list[tuple[Any, Path]] = [(document, ())]
        push = stack.append
        while stack:
            container, where = stack.pop()
            if type(container) is dict:
                for key, value in container.items():
                    if key not in clean and not (key in echo_clean and key in echo):
                        texts.append(self._text((*where, Key(key)), key, own))
                    kind = type(value)
                    if kind is str:
                        if (
                            value not in clean
                            and (path := (*where, key)) not in skip
                            and not (value in echo_clean and value in echo)
                        ):
                            texts.append(self._text(path, value, own))
                    elif kind is dict or kind is list:
                        push((value, (*where, key)))
            else:
                for index, value in enumerate(container):
                    kind = type(value)
                    if kind is str:
                        if (
                            value not in clean
                            and (path := (*where, index)) not in skip
                            and not (value in echo_clean and value in echo)
                        ):
                            texts.append(self._text(path, value, own))
                    elif kind is dict or kind is list:
                        push((value, (*where, index)))
        return texts

    def _text(self, path: Path, text: str, own: Collection[Path]) -> ScanText:
        scored = self._scored and path not in own and text not in self._echo
        kind = "key" if path and isinstance(path[-1], Key) else "value"
        return ScanText(path, text, self._source if scored else OTHER, kind)

    def _remember(self, text: ScanText) -> None:
        # Clean as this scanner reads it: a string read without injection scoring (the model's
        # own, an echo of the request) is not known clean for a scored location, only for an
        # unscored reading.
        if len(text.text) > _REMEMBER_CHARS:
            return
        known = self._clean if not self._scored or text.source in INJECTION_SOURCES else self._echo_clean
        if len(known) >= _REMEMBER_COUNT:
            known.clear()
        known.add(text.text)
