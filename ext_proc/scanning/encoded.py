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

# A decoded segment is text when at least this share of it is printable.
_PRINTABLE_SHARE = 0.9


def base64_text(value: str) -> str | None:
    """The text a base64 or base64url segment encodes, or None."""
    body = value.rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body.replace("-", "+").replace("_", "/") + "=" * (-len(body) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _text(data)


def hex_text(value: str) -> str | None:
    """The text a run of hex digit pairs encodes, or None."""
    try:
        return _text(bytes.fromhex(value))
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
