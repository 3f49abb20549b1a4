"""Folding look-alike characters to ASCII, so that an instruction spelled with Cyrillic or Greek
letters ("ignore" with U+0456 for the i and U+043E for the o) reads the same as the ASCII one.

NFKC (Unicode normalization) already maps compatibility forms: full-width letters, mathematical
alphanumerics (U+1D422 for a bold i), ligatures. This table adds the cross-script look-alikes NFKC keeps
apart; it lists the Cyrillic, Greek, Armenian and Latin-extension letters that Unicode's
confusables data maps to a single ASCII letter and that fonts render indistinguishably.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

_LOOKALIKES = {
    # Cyrillic
    "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u043a": "k", "\u043c": "m", "\u043d": "h",
    "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t", "\u0443": "y", "\u0445": "x",
    "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u0501": "d", "\u051b": "q", "\u051d": "w",
    "\u04bb": "h", "\u04cf": "l", "\u04af": "y", "\u0410": "A", "\u0412": "B", "\u0415": "E",
    "\u041a": "K", "\u041c": "M", "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C",
    "\u0422": "T", "\u0425": "X", "\u0406": "I", "\u0408": "J", "\u0405": "S", "\u0423": "Y",
    "\u04ae": "Y", "\u0500": "D", "\u051a": "Q", "\u051c": "W", "\u04ba": "H", "\u04c0": "I",
    # Greek
    "\u03b1": "a", "\u03b2": "b", "\u03b3": "y", "\u03b5": "e", "\u03b9": "i", "\u03ba": "k",
    "\u03bd": "v", "\u03bf": "o", "\u03c1": "p", "\u03c4": "t", "\u03c5": "u", "\u03c7": "x",
    "\u03c9": "w", "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H",
    "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P",
    "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
    # Armenian, Latin extensions and letterlike symbols
    "\u0261": "g", "\u0578": "n", "\u057d": "u", "\u0585": "o", "\u0131": "i", "\u0237": "j",
    "\u2113": "l",
    # Typographic apostrophes, so that "don\u2019t" reads as "don't"
    "\u2018": "'", "\u2019": "'",
}  # fmt: skip
# The look-alikes as a code point table: one numpy lookup folds a text (``str.translate`` with a
# dict costs ten times as much on a text that is not ASCII).
_TABLE_END = max(map(ord, _LOOKALIKES)) + 1
_TABLE = np.arange(_TABLE_END, dtype=np.uint32)
_TABLE[[ord(char) for char in _LOOKALIKES]] = [ord(ascii_) for ascii_ in _LOOKALIKES.values()]
# The letters alone (the sensitive-data views fold these; typographic apostrophes stay).
LOOKALIKE_LETTERS = {char: ascii_ for char, ascii_ in _LOOKALIKES.items() if char.isalpha()}
_LOOKALIKE = re.compile("[" + "".join(_LOOKALIKES) + "]")
# A word mixing ASCII letters with look-alikes (genuine Cyrillic or Greek words have no ASCII).
_LETTERS = "".join(char for char in _LOOKALIKES if char.isalpha())
_MIXED_WORD = re.compile(r"\b(?=\w*[A-Za-z])(?=\w*[" + _LETTERS + r"])\w+")
# An ASCII letter next to a look-alike one: what a word spelled with a few look-alikes has, and a
# text in Cyrillic or Greek (with English words apart) has not; far cheaper to look for than
# every word's letters.
_MIXED_PAIR = re.compile(f"[A-Za-z][{_LETTERS}]|[{_LETTERS}][A-Za-z]")
_LOOKALIKE_LETTER = re.compile(f"[{_LETTERS}]")


def fold(text: str) -> str:
    """NFKC, look-alikes to ASCII, lower case."""
    if text.isascii():
        return text.lower()
    normalized = unicodedata.normalize("NFKC", text)
    if _LOOKALIKE.search(normalized):
        normalized = _translated(normalized)
    return normalized.lower()


def fold_decomposed(text: str) -> str:
    """``fold`` of a text already in NFKD without combining marks (NFKC would only recompose)."""
    if text.isascii():
        return text.lower()
    return (_translated(text) if _LOOKALIKE.search(text) else text).lower()


def _translated(text: str) -> str:
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    folded = np.where(codes < _TABLE_END, _TABLE[np.minimum(codes, _TABLE_END - 1)], codes)
    return folded.astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


def mixed_script_words(text: str) -> int:
    """How many words mix ASCII letters with look-alike letters of another script."""
    if text.isascii() or not _LOOKALIKE_LETTER.search(text) or not _MIXED_PAIR.search(text):
        return 0
    return sum(1 for _ in _MIXED_WORD.finditer(text))
