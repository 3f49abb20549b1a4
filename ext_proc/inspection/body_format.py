"""What a response body from an AI upstream is, from its bytes, whatever it is labelled.

An LLM API, an MCP server and an A2A agent answer in JSON or in Server-Sent Events, nothing else.
The label (Content-Type) is the upstream's word, and the upstream may be hostile: a client that
parses what it gets as JSON or as an event stream whatever the label (the SDKs do) must never get
bytes that Chaperone read as something else. So the format is decided by the first byte that is
not whitespace (after an optional UTF-8 byte order mark): ``{`` or ``[`` opens JSON (RFC 8259
section 2); anything else is read as an event stream, whose strict parser refuses what is not
one (a line that is no SSE field). A body of whitespace only carries nothing to read.
"""

from __future__ import annotations

from typing import Literal

Format = Literal["json", "sse", "empty"]

_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = b" \t\r\n"
_JSON_OPENERS = frozenset(b"{[")


def sniff(data: bytes, *, end: bool) -> Format | None:
    """The format of a body that starts with ``data``; None when more bytes are needed to tell
    (only a partial byte order mark or whitespace so far, and more to come)."""
    start = len(_BOM) if data.startswith(_BOM) else 0
    if start == 0 and len(data) < len(_BOM) and _BOM.startswith(data) and data and not end:
        return None  # perhaps the start of a byte order mark
    rest = data[start:].lstrip(_JSON_WHITESPACE)
    if not rest:
        return "empty" if end else None
    return "json" if rest[0] in _JSON_OPENERS else "sse"


def without_bom(data: bytes) -> bytes:
    """JSON text after an optional byte order mark (RFC 8259 section 8.1 lets a parser ignore it)."""
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def labelled_stream(content_type: str | None) -> bool:
    """Whether any of the (possibly repeated and comma-joined) Content-Type values is an event
    stream: such a body is read as it streams, never buffered whole."""
    if not content_type:
        return False
    return any(
        part.split(";", 1)[0].strip().lower() == "text/event-stream" for part in content_type.split(",")
    )


def label_of(fmt: Format) -> str | None:
    return {"json": "application/json", "sse": "text/event-stream"}.get(fmt)
