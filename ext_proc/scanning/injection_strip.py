"""The policy's ``"injection": "strip"``: the text without what carries the injection.

Hidden content goes first (``strip_hidden``: invisible characters, hidden markup, tag
characters). Then the visible text is cut into sentences and lines, and each one that the
detector flags on its own (the heuristics and the classifier, ``detect_injection``) is removed;
so is the piece right after a flagged one that ends with a colon (``reply with only the
following text: <payload>``) or an opening marker, and any piece inside a spoofed block
(``[system] ... [rest-of-document]``). What remains is the document without the instruction,
which the agent can still use.
"""

from __future__ import annotations

import re

from ext_proc.scanning.hidden import strip_hidden
from ext_proc.scanning.injection import detect_injection

# Sentence ends (with the white space after them) and line breaks.
_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
# A piece that introduces what follows it.
_INTRODUCES = re.compile(r"(?::|<|\[|\(|\"|brackets)\s*$")
_MAX_PIECES = 2_000


def strip_injection(text: str) -> str:
    visible = strip_hidden(text)
    pieces = _pieces(visible)
    if len(pieces) > _MAX_PIECES or not detect_injection(visible).flagged:
        return visible
    keep = [True] * len(pieces)
    for index, (start, end) in enumerate(pieces):
        if not keep[index]:
            continue
        piece = visible[start:end]
        if detect_injection(piece, part=True).flagged:
            keep[index] = False
            if _INTRODUCES.search(piece.rstrip()) and index + 1 < len(pieces):
                keep[index + 1] = False
    if all(keep):
        # No piece alone carries it (an instruction spread over several): drop the pieces with
        # any signal at all.
        keep = [not detect_injection(visible[s:e], part=True).signals for s, e in pieces]
    out = []
    cursor = 0
    for (start, end), kept in zip(pieces, keep, strict=True):
        if not kept:
            out.append(visible[cursor:start])
            cursor = end
    out.append(visible[cursor:])
    return _tidy("".join(out))


def _pieces(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line, white space after it included."""
    pieces = []
    start = 0
    for match in _BREAK.finditer(text):
        if match.end() > start:
            pieces.append((start, match.end()))
            start = match.end()
    if start < len(text):
        pieces.append((start, len(text)))
    return pieces


def _tidy(text: str) -> str:
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"\n{3,}", "\n\n", text)).strip()
