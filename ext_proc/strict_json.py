"""Strict JSON: the one parser for every body Chaperone reads, and the one serializer for what it forwards.

A proxy that judges a document must read it exactly as the receiver will, or refuse it. JSON
(RFC 8259) leaves room for disagreement, and each gap is refused here (400, or the caller's status):

- **Duplicate keys** (RFC 8259 §4: "names SHOULD be unique"): parsers disagree on which one wins
  (Python and Go keep the last, some JSON-RPC servers the first), so a policy could judge one
  value while the upstream acts on the other. Refused by default; ``duplicates="last"`` keeps the
  last one, as opa-envoy-plugin (Go's encoding/json) does, where parity with it matters.
- **Nesting** deeper than ``MAX_DEPTH`` levels: refused with ``body_too_deep`` before any
  recursion limit downstream (the policy input's serializer stops at 254 levels) can turn it
  into an internal error.
- **Numbers**: integers of any size are kept exact (OPA compares them exactly; orjson would turn
  one beyond 64 bits into a float); a number beyond the range of a double (``1e400``) is refused
  rather than read as infinity. ``NaN`` and ``Infinity`` are not JSON and are refused.
- **Text**: the body must be UTF-8 (RFC 8259 §8.1) without byte-order mark; invalid UTF-8,
  lone surrogates (``"\\ud800"``) and raw control characters in strings are refused. A
  Content-Type ``charset`` other than UTF-8 is refused with 415 (``check_charset``).

Parsing is jiter's (``catch_duplicate_keys`` finds duplicates after unescaping, so ``"\\u0061"``
and ``"a"`` are the same key); it costs about twice orjson's time (``tests/bench/json_body.py``).
orjson stays the serializer: ``dumps`` is orjson's output for every document orjson can encode,
and integers beyond 64 bits are written as their exact digits.

Error messages name the position, never the text at it: a key or value can be a secret.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import jiter
import orjson

from ext_proc.errors import ChaperoneError, ErrorCode

# jiter's own recursion limit: a document nested deeper is refused by the parser itself, so no
# deeper document exists anywhere in Chaperone. Tests pin it (tests/unit/test_strict_json.py).
MAX_DEPTH = 200

Duplicates = Literal["refuse", "last"]

_POSITION = re.compile(r"^(?P<what>.*?) at line (?P<line>\d+) column (?P<column>\d+)$")
_UTF8_CHARSETS = frozenset({"utf-8", "utf8"})

# A view of a body for cheap byte searches: every digit is "0", "E" is "e", "+" and "-" stay,
# "[" and "{" are "[" and every other byte is a space. A number that overflows a double has a
# 3-digit exponent or over 200 digits in a row, and an integer outside orjson's 64 bits has 20
# digits, or 19 after a minus: substring searches of the view find them (or harmless
# look-alikes in strings) at C speed.
_VIEW_BYTES = {**{digit: ord("0") for digit in b"0123456789"}, ord("e"): ord("e"), ord("E"): ord("e")}
_VIEW_BYTES.update({ord("+"): ord("+"), ord("-"): ord("-"), ord("["): ord("["), ord("{"): ord("[")})
_NUMBER_VIEW = bytes(_VIEW_BYTES.get(byte, ord(" ")) for byte in range(256))
_LONG_RUN = b"0" * 200
_RUN_START = b"0" * 16
_BIG_INTEGER = b"0" * 20  # up to 2**64 - 1
_BIG_NEGATIVE = b"-" + b"0" * 19  # down to -(2**63)


def loads(
    data: bytes,
    *,
    duplicates: Duplicates = "refuse",
    what: str = "the JSON body",
    http_status: int = 400,
) -> Any:
    """The JSON value of ``data``, or a ChaperoneError (``body_parse_error``, ``body_decode_error``,
    ``body_duplicate_key`` or ``body_too_deep``) with ``http_status``."""
    if duplicates == "last":
        fast = _orjson_if_exact(data)
        if fast is not _INEXACT:
            return fast
    try:
        value = jiter.from_json(
            data,
            allow_inf_nan=False,
            catch_duplicate_keys=duplicates == "refuse",
            cache_mode="keys",
        )
    except ValueError as exc:
        raise _parse_error(str(exc), data, what, http_status) from None
    if _may_overflow(data) and not _all_finite(value):
        raise ChaperoneError(
            ErrorCode.BODY_PARSE_ERROR,
            f"{what} has a number beyond the range of a double",
            http_status=http_status,
        )
    return value


def loads_text(
    text: str, *, duplicates: Duplicates = "refuse", what: str = "the JSON body", http_status: int = 400
) -> Any:
    """``loads`` for text already decoded (an SSE event's data, say)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the text did not come from valid UTF-8
        raise ChaperoneError(
            ErrorCode.BODY_DECODE_ERROR, f"{what} is not valid Unicode", http_status=http_status
        ) from None
    return loads(data, duplicates=duplicates, what=what, http_status=http_status)


def dumps(value: Any) -> bytes:
    """The canonical serialization: compact, UTF-8, keys in document order, integers exact."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson refuses integers beyond 64 bits; write them as their digits instead.
        return orjson.dumps(_with_big_integers(value))


def check_charset(content_type: str | None, *, what: str = "the body") -> None:
    """Refuse (415) a Content-Type whose ``charset`` is not UTF-8: JSON is UTF-8 (RFC 8259 §8.1),
    and a body read as UTF-8 but labelled otherwise may be read differently by the upstream."""
    charset = charset_of(content_type)
    if charset is not None and charset not in _UTF8_CHARSETS:
        raise ChaperoneError(
            ErrorCode.UNSUPPORTED_CHARSET,
            f"{what} declares a charset other than UTF-8",
            http_status=415,
        )


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type, lower-cased and unquoted; None when absent."""
    if not content_type:
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').strip().lower()
    return None


def depth(value: Any) -> int:
    """How deeply containers nest in a value (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _parse_error(message: str, data: bytes, what: str, http_status: int) -> ChaperoneError:
    if not _is_utf8(data):
        return ChaperoneError(
            ErrorCode.BODY_DECODE_ERROR, f"{what} is not valid UTF-8", http_status=http_status
        )
    if not data.strip():
        return ChaperoneError(ErrorCode.BODY_PARSE_ERROR, f"{what} is empty", http_status=http_status)
    match = _POSITION.match(message)
    detail, where = (
        (match["what"], f" at line {match['line']} column {match['column']}") if match else (message, "")
    )
    if detail.startswith("Detected duplicate key"):
        return ChaperoneError(
            ErrorCode.BODY_DUPLICATE_KEY, f"{what} has a duplicate key{where}", http_status=http_status
        )
    if detail == "recursion limit exceeded":
        return ChaperoneError(
            ErrorCode.BODY_TOO_DEEP,
            f"{what} is nested deeper than {MAX_DEPTH} levels",
            http_status=http_status,
        )
    if '"' in detail:  # a message that quotes the input: never repeat it
        detail = "invalid JSON"
    return ChaperoneError(
        ErrorCode.BODY_PARSE_ERROR, f"{what} is not valid JSON: {detail}{where}", http_status=http_status
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_INEXACT = object()


def _orjson_if_exact(data: bytes) -> Any:
    """orjson's reading when it is the exact one (it reads duplicate keys last-wins, as asked):
    no integer long enough to leave 64 bits (orjson reads one as a float), fewer brackets than
    the depth limit, and valid JSON (orjson refuses an infinite number itself). Otherwise
    ``_INEXACT``: jiter reads it, or names the error."""
    view = data.translate(_NUMBER_VIEW)
    if view.count(b"[") > MAX_DEPTH or _BIG_INTEGER in view or _BIG_NEGATIVE in view:
        return _INEXACT
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _INEXACT  # jiter names the error


def _may_overflow(data: bytes) -> bool:
    view = data.translate(_NUMBER_VIEW)
    # The short needles first: most bodies have neither, and a long needle costs more to search.
    if b"0e" in view and (b"0e000" in view or b"0e+000" in view):
        return True
    return _RUN_START in view and _LONG_RUN in view


def _all_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float):
            if not math.isfinite(node):
                return False
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


def _with_big_integers(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _with_big_integers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_with_big_integers(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _UINT64_MAX:
        return orjson.Fragment(str(value).encode("ascii"))
    return value
