"""Go's net/url unescaping and query parsing, as opa-envoy-plugin applies them to the request.

opa-envoy-plugin builds ``parsed_path`` with ``url.PathUnescape`` and ``parsed_query`` (and form
bodies) with ``url.ParseQuery``. Both refuse what Python's urllib quietly accepts: a ``%`` not
followed by two hex digits, a ``;`` in a query (Go 1.17+), more than 10,000 parameters (Go
1.24+, the ``urlmaxqueryparams`` default for the plugin's go.mod). The plugin answers such a
request with 400 ``request_parse_error`` before any policy runs; so do we, with Go's message.

Go strings are bytes: a percent-escape may produce invalid UTF-8. We replace each invalid byte
with U+FFFD, which is how OPA renders such a string in JSON.
"""

from __future__ import annotations

import codecs

MAX_QUERY_PARAMS = 10_000
_HEX = frozenset(b"0123456789abcdefABCDEF")


class GoUrlError(ValueError):
    """A parse failure, with Go's error text."""


def _replace_each_byte(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error("chaperone-go-bytes", _replace_each_byte)


def go_string(raw: bytes) -> str:
    """Bytes as a Go string renders in JSON: valid UTF-8 kept, each invalid byte U+FFFD."""
    return raw.decode("utf-8", "chaperone-go-bytes")


def _unescape(text: str, *, query: bool) -> str:
    if "%" not in text and not (query and "+" in text):
        return text
    raw = text.encode("utf-8")
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x25:  # %
            if i + 2 >= n or raw[i + 1] not in _HEX or raw[i + 2] not in _HEX:
                raise GoUrlError(f"invalid URL escape {go_quote(raw[i : i + 3])}")
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(0x20 if c == 0x2B and query else c)
        i += 1
    return go_string(bytes(out))


def path_unescape(text: str) -> str:
    """url.PathUnescape: %XX decoded, '+' kept."""
    return _unescape(text, query=False)


def query_unescape(text: str) -> str:
    """url.QueryUnescape: %XX decoded, '+' is a space."""
    return _unescape(text, query=True)


def parse_query(query: str) -> dict[str, list[str]]:
    """url.ParseQuery; raises GoUrlError with the error Go would return (the plugin drops the values then)."""
    if query.count("&") + 1 > MAX_QUERY_PARAMS:
        raise GoUrlError("number of URL query parameters exceeded limit")
    values: dict[str, list[str]] = {}
    error: str | None = None
    for part in query.split("&") if query else ():
        if ";" in part:
            error = "invalid semicolon separator in query"  # Go overwrites: the last one wins
            continue
        if not part:
            continue
        key, _, value = part.partition("=")
        try:
            key, value = query_unescape(key), query_unescape(value)
        except GoUrlError as exc:
            error = error or str(exc)
            continue
        values.setdefault(key, []).append(value)
    if error is not None:
        raise GoUrlError(error)
    return values


def go_quote(raw: bytes) -> str:
    """strconv.Quote of a byte string, for the fragments Go's URL errors quote."""
    out = ['"']
    i = 0
    while i < len(raw):
        ch, size = _decode_rune(raw, i)
        if ch is None:
            out.append(f"\\x{raw[i]:02x}")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        i += size
    out.append('"')
    return "".join(out)


def _decode_rune(raw: bytes, i: int) -> tuple[str | None, int]:
    for size in (1, 2, 3, 4):
        try:
            return raw[i : i + size].decode("utf-8"), size
        except UnicodeDecodeError:
            continue
    return None, 1
