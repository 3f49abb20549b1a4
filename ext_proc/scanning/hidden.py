"""Text a reader does not see but a model does: invisible characters and hidden markup.

- Zero-width characters (U+200B-U+200D, U+2060, U+FEFF, U+180E, soft hyphen) split words so that
  filters miss them; bidi controls (U+202A-U+202E, U+2066-U+2069) reorder what is displayed
  ("Trojan Source"). A zero-width joiner between emoji is part of the emoji and is kept.
- Unicode tag characters (U+E0000-U+E007F) mirror ASCII invisibly ("ASCII smuggling"); they are
  decoded so their text can be inspected. Tags after U+1F3F4 spell a subdivision flag and are kept.
- Markup: HTML comments, elements hidden by style (``display:none``, ``visibility:hidden``,
  ``font-size:0``, ``opacity:0``, white text), the ``hidden`` attribute, visually-hidden classes,
  and markdown comments (``[//]: # (...)``).

``strip_hidden`` removes all of it, for the policy's "strip" choice; ``hidden_parts`` returns the
hidden text so that it can be scanned for instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ZERO_WIDTH = "\u200b\u200c\u2060\ufeff\u180e\u00ad"  # and the joiner U+200D, below
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_EMOJI = "[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]"
# A joiner between two emoji (a family, a profession) is part of the emoji; any other is hidden.
_INVISIBLE = re.compile(f"[{_ZERO_WIDTH}{_BIDI}]|(?<!{_EMOJI})\u200d|\u200d(?!{_EMOJI})")
# Tag characters, except those spelling a subdivision flag after U+1F3F4 (kept by group 1).
_TAGS = re.compile("(\U0001f3f4[\U000e0020-\U000e007f]+)|[\U000e0000-\U000e007f]+")

_HTML_COMMENT = re.compile(r"<!--(.*?)(?:-->|\Z)", re.DOTALL)
_HIDING_STYLE = (
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0+(?:\.0+)?(?![\d.])"
    r"|opacity\s*:\s*0+(?:\.0+)?(?![\d.])"
    r"|(?<![-\w])color\s*:\s*(?:white|#fff(?:fff)?\b|rgba?\(\s*255\s*,\s*255\s*,\s*255)"
)
# The opening tag of an element hidden by its style, its ``hidden`` attribute or a visually-hidden
# class. Its content runs to the matching closing tag, looked up with ``str.find`` within
# _MAX_HIDDEN_BODY characters (a regex spanning to the closing tag would rescan the text after
# every unclosed tag).
_HIDDEN_OPEN = re.compile(
    r"<(?P<tag>[a-zA-Z][a-zA-Z0-9]*)\b[^>]*?"
    r"(?:style\s*=\s*(?P<q>[\"'])(?:(?!(?P=q))[^>])*?(?:" + _HIDING_STYLE + r")(?:(?!(?P=q))[^>])*(?P=q)"
    r"|\shidden(?:\s*=\s*[\"']?[^\"'\s>]*[\"']?)?(?=[\s/>])"
    r"|class\s*=\s*[\"'][^\"'>]*\b(?:sr-only|visually-hidden|hidden)\b[^\"'>]*[\"'])"
    r"[^>]*>",
    re.IGNORECASE,
)
_MAX_HIDDEN_BODY = 20_000
_MARKDOWN_COMMENT = re.compile(r"^\[(?://|comment)\]:\s*(?:#|<>)\s*[(\"'](.*?)[)\"']\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class HiddenPart:
    kind: str  # html_comment, hidden_element, markdown_comment, tag_characters
    text: str


# Quick tests that let ASCII text, and text without markup, skip the costlier patterns.
_ANY_INVISIBLE = re.compile(f"[{_ZERO_WIDTH}\u200d{_BIDI}]")
_ANY_TAG = re.compile("[\U000e0000-\U000e007f]")


def _may_have_invisible(text: str) -> bool:
    return not text.isascii() and _ANY_INVISIBLE.search(text) is not None


def _may_have_tags(text: str) -> bool:
    return not text.isascii() and _ANY_TAG.search(text) is not None


def _may_have_markup(text: str) -> bool:
    return "<" in text or "]:" in text


def invisible_counts(text: str) -> tuple[int, int]:
    """(zero-width characters, bidi controls), not counting joiners inside emoji."""
    zero_width = bidi = 0
    if not _may_have_invisible(text):
        return 0, 0
    for match in _INVISIBLE.finditer(text):
        if match.group() in _BIDI:
            bidi += 1
        else:
            zero_width += 1
    return zero_width, bidi


def hidden_parts(text: str) -> list[HiddenPart]:
    parts: list[HiddenPart] = []
    if _may_have_markup(text):
        parts += [HiddenPart("html_comment", m.group(1)) for m in _HTML_COMMENT.finditer(text)]
        parts += [HiddenPart("hidden_element", text[a:b]) for _, a, b, _ in _hidden_elements(text)]
        parts += [HiddenPart("markdown_comment", m.group(1)) for m in _MARKDOWN_COMMENT.finditer(text)]
    if not _may_have_tags(text):
        return parts
    for match in _TAGS.finditer(text):
        if match.group(1) is None:
            decoded = "".join(chr(ord(c) - 0xE0000) for c in match.group() if 0xE0020 <= ord(c) <= 0xE007E)
            if decoded.strip():
                parts.append(HiddenPart("tag_characters", decoded))
    return parts


def strip_hidden(text: str) -> str:
    """``text`` without invisible characters, tag characters and hidden markup (with its content).
    Joiners inside emoji and the tags of flag emoji stay."""
    if _may_have_markup(text):
        text = _HTML_COMMENT.sub("", text)
        text = _without_hidden_elements(text)
        text = _MARKDOWN_COMMENT.sub("", text)
    if _may_have_tags(text):
        text = _TAGS.sub(lambda m: m.group(1) or "", text)
    return _INVISIBLE.sub("", text) if _may_have_invisible(text) else text


def _hidden_elements(text: str) -> list[tuple[int, int, int, int]]:
    """(element start, content start, content end, element end) of each closed hidden element."""
    lowered = text.lower()
    elements = []
    cursor = 0
    while (opening := _HIDDEN_OPEN.search(text, cursor)) is not None:
        closing = "</" + opening.group("tag").lower()
        close_at = lowered.find(closing, opening.end(), opening.end() + _MAX_HIDDEN_BODY)
        if close_at < 0:
            cursor = opening.end()
            continue
        end = text.find(">", close_at)
        end = len(text) if end < 0 else end + 1
        elements.append((opening.start(), opening.end(), close_at, end))
        cursor = end
    return elements


def _without_hidden_elements(text: str) -> str:
    pieces = []
    cursor = 0
    for start, _, _, end in _hidden_elements(text):
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
