"""Segments whose content is only readable once decoded: base64, hex, and characters interleaved
with a separator (``j o h n @ e x a m p l e . c o m``, ``4-1-1-1-...``).

Each is a detector of its own (``detectors.py``: ``BASE64``, ``HEX``, ``INTERLEAVED``) whose
pattern finds the segment, bounded in length, and whose ``decode`` turns it into text. The
scanner scans that text with every value detector (and its normalized view); a finding there makes
the whole segment a finding of the same type, so the segment is redacted whole. A segment that
does not decode to text (an image, a hash, a key) is not a finding.
"""

from __future__ import annotations

import base64
import binascii
import re

_HEX_NOISE = re.compile(r"0[xX]|[, :-]")
# A decoded segment is text when at least this share of it is printable.
_PRINTABLE_SHARE = 0.9


# How many line ends a run of base64 lines is cut back at to find where the encoded part ends
# (a line of ordinary text may follow the last one without a blank line between).
_LINE_CUTS = 4


def base64_length(value: str) -> int | None:
    """How much of a base64 run (lines included) is one encoded text: all of it, or the lines
    before a following line that is not part of it."""
    end = len(value)
    for _ in range(_LINE_CUTS + 1):
        if base64_text(value[:end]) is not None:
            return end
        end = value.rfind("\n", 0, end)
        if end < 12:
            return None
        end -= value[end - 1] == "\r"
    return None


def base64_text(value: str) -> str | None:
    """The text a base64 or base64url segment (possibly broken into lines) encodes, or None."""
    body = value.replace("\r", "").replace("\n", "").rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body.replace("-", "+").replace("_", "/") + "=" * (-len(body) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _text(data)


def hex_text(value: str) -> str | None:
    """The text a run of hex digit pairs (separated or not, ``0x`` or not) encodes, or None."""
    try:
        return _text(bytes.fromhex(_HEX_NOISE.sub("", value)))
    except ValueError:
        return None


def deinterleaved(value: str) -> str | None:
    """The characters of ``c s c s c ... c`` without the separator ``s`` (every other one)."""
    return value[::2]


def _text(data: bytes) -> str | None:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded:
        return None
    printable = sum(1 for char in decoded if char.isprintable() or char in "\n\r\t")
    return decoded if printable >= _PRINTABLE_SHARE * len(decoded) else None
