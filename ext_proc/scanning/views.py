"""Normalized views of a text: what a reader (or a model) sees once the text's obfuscations are
undone, with a map back to the original characters.

One view undoes, character by character or escape by escape, what hides a value from a pattern
while keeping it readable to a person or a model:

- literal escapes: ``\\u0040``, ``\\u{40}``, ``\\U00000040``, ``\\x40`` (JSON, JavaScript, Python),
  and the same with the backslash escaped once more (``\\\\u0040``: a string encoded twice);
- URL encoding: ``%40``, and ``%C3%A9`` (one UTF-8 character percent-encoded), and encoded twice
  (``%2540``: the ``%`` itself percent-encoded, as a second encoding pass writes it);
- HTML character references: ``&#64;``, ``&#x40;``, ``&commat;`` (named ones of up to 10 letters),
  and a numeric one escaped twice (``&amp;#64;``);
- format characters (Unicode category Cf: zero-width spaces and joiners, bidi controls, soft
  hyphens, tag characters) and stray combining marks (Mn) are removed;
- compatibility forms (NFKC: full-width ``U+FF20`` for ``@``, mathematical digits, no-break spaces) and the
  cross-script look-alike letters of ``confusables.py`` are folded to ASCII.

Every transform works on a *token* of at most ``MAX_TOKEN`` characters, found left to right by
one regular expression, so a view is local: the view of a text cut at a token boundary is the
view of each part, concatenated. That is what lets a stream build its view as text arrives
(``build(text, final=False)`` stops before a token that more text could still complete) and get
exactly the view of the whole text. Double encodings are undone only in these shapes, one layer
more and never more (the view is not applied to itself: a token stays bounded); base64 and hex
segments, and characters interleaved with separators, are segment detectors (``encoded.py``), and
their decoded text is read through this view again.

``View.span(start, end)`` maps a span of the view back to the original text: from the first
original character of the view's first character to the last original character of its last one,
so a finding in the view redacts every original character it was read from (an escape whole).
"""

from __future__ import annotations

import html.entities
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from ext_proc.scanning.confusables import LOOKALIKE_LETTERS

MAX_TOKEN = 20  # the longest token: four percent-encoded bytes, encoded twice (``%25F0%259F...``)

_HEX = "[0-9A-Fa-f]"
_PCT = "%(?:25)?"  # a percent-encoded byte, or one encoded twice (``%2540``)
_TOKEN = re.compile(
    rf"\\\\?(?:u{_HEX}{{4}}|u\{{{_HEX}{{1,6}}\}}|U{_HEX}{{8}}|x{_HEX}{{2}})"
    # Longest first: ``%25C3%25A9`` is one character encoded twice, not ``%`` and then ``C3``.
    rf"|{_PCT}[Ff][0-7](?:{_PCT}[89ABab]{_HEX}){{3}}|{_PCT}[Ee]{_HEX}(?:{_PCT}[89ABab]{_HEX}){{2}}"
    rf"|{_PCT}[CDcd]{_HEX}{_PCT}[89ABab]{_HEX}|{_PCT}[0-7]{_HEX}"
    r"|&(?:amp;)?#[0-9]{1,7};|&(?:amp;)?#[xX][0-9A-Fa-f]{1,6};|&[A-Za-z]{2,10};"
    r"|[^\x00-\x7f]"
)
_PERCENT_BYTE = re.compile(rf"{_PCT}({_HEX}{{2}})")
_NAMED = html.entities.html5
_FOLD = str.maketrans({k: v for k, v in LOOKALIKE_LETTERS.items() if v.isascii()})
_REMOVED_CATEGORIES = frozenset({"Cf", "Mn", "Me"})


@dataclass(frozen=True, slots=True)
class View:
    """The view's text and, for each run of view characters, where it came from.

    ``_view_at[i]`` is the view offset where piece ``i`` starts, ``_orig_at[i]`` the original
    offset; a piece is either a copy (same length in both) or one token (``_token[i]`` is its
    original length, and all its view characters map to the whole token)."""

    text: str
    _view_at: tuple[int, ...]
    _orig_at: tuple[int, ...]
    _token: tuple[int, ...]  # 0 for a copy, else the token's original length
    consumed: int  # original characters the view covers (all of them once final)

    @property
    def changed(self) -> bool:
        return any(self._token)

    def orig_start(self, view_offset: int) -> int:
        """The original offset of the view character at ``view_offset`` (``len(text)``: consumed)."""
        if view_offset >= len(self.text):
            return self.consumed
        i = bisect_right(self._view_at, view_offset) - 1
        if self._token[i]:
            return self._orig_at[i]
        return self._orig_at[i] + view_offset - self._view_at[i]

    def orig_end(self, view_end: int) -> int:
        """The original offset just after the view character before ``view_end``."""
        if view_end <= 0:
            return 0
        i = bisect_right(self._view_at, view_end - 1) - 1
        if self._token[i]:
            return self._orig_at[i] + self._token[i]
        return self._orig_at[i] + view_end - self._view_at[i]

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.orig_start(start), self.orig_end(end)

    def view_offset(self, orig_offset: int) -> int:
        """The first view character that comes from at or after ``orig_offset`` (a token boundary)."""
        i = bisect_right(self._orig_at, orig_offset) - 1
        if i < 0:
            return 0
        if self._token[i]:
            if orig_offset == self._orig_at[i]:
                return self._view_at[i]
            return self._view_at[i + 1] if i + 1 < len(self._view_at) else len(self.text)
        return self._view_at[i] + orig_offset - self._orig_at[i]


def may_change(text: str) -> bool:
    """False when ``text`` is certainly its own view (the common case, checked at C speed)."""
    return not text.isascii() or "\\" in text or "%" in text or "&" in text


def build(text: str, *, final: bool = True) -> View:
    """The view of ``text``. With ``final=False`` (a stream's text so far), the view stops before
    the last ``MAX_TOKEN`` characters if a token could start there and still grow."""
    end = len(text) if final else _settled_end(text)
    pieces: list[str] = []
    view_at: list[int] = [0]
    orig_at: list[int] = [0]
    token: list[int] = [0]
    view_len = 0
    cursor = 0
    for match in _TOKEN.finditer(text, 0, end):
        replacement = _decode(match.group())
        if replacement == match.group():
            continue
        start = match.start()
        if start > cursor:
            pieces.append(text[cursor:start])
            view_len += start - cursor
        view_at.append(view_len)
        orig_at.append(start)
        token.append(match.end() - start)
        pieces.append(replacement)
        view_len += len(replacement)
        cursor = match.end()
        view_at.append(view_len)
        orig_at.append(cursor)
        token.append(0)
    pieces.append(text[cursor:end])
    return View("".join(pieces), tuple(view_at), tuple(orig_at), tuple(token), end)


def token_boundary(text: str, offset: int) -> int:
    """``offset``, or the start of the escape it falls inside."""
    for match in _TOKEN.finditer(text, max(0, offset - MAX_TOKEN + 1), offset + 1):
        if match.start() < offset < match.end():
            return match.start()
    return offset


def _settled_end(text: str) -> int:
    """Where a stream's view can safely stop: before a trailing token start that more text could
    turn into a longer token (``\\u00`` may become ``\\u0040``)."""
    tail_from = max(0, len(text) - MAX_TOKEN + 1)
    for index in range(tail_from, len(text)):
        char = text[index]
        if char in "\\%&" and _could_grow(text[index:]):
            return index
    return len(text)


_PARTIAL = (
    re.compile(r"\\\\?(?:u(?:[0-9A-Fa-f]{0,3}|\{[0-9A-Fa-f]{0,6})|U[0-9A-Fa-f]{0,7}|x[0-9A-Fa-f]?)?"),
    # Up to three whole bytes (each may start a longer UTF-8 sequence), then part of one more.
    re.compile(rf"(?:{_PCT}{_HEX}{{2}}){{0,3}}(?:%(?:2(?:5{_HEX}?)?|{_HEX})?)?"),
    re.compile(
        r"&(?:#(?:[0-9]{0,7}|[xX][0-9A-Fa-f]{0,6})|[A-Za-z]{0,10}|amp;(?:#(?:[0-9]{0,7}|[xX][0-9A-Fa-f]{0,6}))?)"
    ),
)


def _could_grow(tail: str) -> bool:
    """Is ``tail`` (to the end of the text) a proper prefix of some token?"""
    return any(pattern.fullmatch(tail) is not None for pattern in _PARTIAL)


def _decode(token: str) -> str:
    first = token[0]
    if first == "\\":
        return _decode_escape(token)
    if first == "%":
        return bytes.fromhex("".join(_PERCENT_BYTE.findall(token))).decode("utf-8", "replace")
    if first == "&":
        return _decode_entity(token)
    return fold_char(first)


def _decode_escape(token: str) -> str:
    digits = token.lstrip("\\")[1:].strip("{}")
    return _char(int(digits, 16), token)


def _decode_entity(token: str) -> str:
    if token.startswith(("&#", "&amp;#")):
        number = token[token.index("#") + 1 : -1]
        return _char(int(number[1:], 16) if number[:1] in "xX" else int(number), token)
    return _NAMED.get(token[1:], token)


def _char(code: int, token: str) -> str:
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return token
    return fold_char(chr(code)) if code > 0x7F else chr(code)


@lru_cache(maxsize=8192)
def fold_char(char: str) -> str:
    """One non-ASCII character as the view shows it: removed if invisible, else NFKC and the
    look-alike folded to ASCII where there is one."""
    if unicodedata.category(char) in _REMOVED_CATEGORIES:
        return ""
    normalized = unicodedata.normalize("NFKC", char)
    return "".join("" if unicodedata.category(c) in _REMOVED_CATEGORIES else c for c in normalized).translate(
        _FOLD
    )
