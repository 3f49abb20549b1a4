"""Byte and JSON conventions of OPA's Go builtins, shared by the extensions.

OPA's builtins are written in Go, so their edge cases are Go's: base64url that accepts a missing
padding (RFC 7515 appendix C), JSON decoded with the last duplicate key winning and numbers kept
exact, JSON encoded with sorted keys and HTML characters escaped.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any


class BuiltinError(ValueError):
    """A builtin refused its operands; the evaluation fails, as OPA's with strict builtin errors."""


def go_string(data: bytes) -> str:
    """Bytes as a Go string becomes an OPA string: invalid UTF-8 sequences become U+FFFD."""
    return data.decode("utf-8", errors="replace")


def base64url_decode(text: str) -> bytes:
    """OPA's ``base64url.decode``: padding added when missing, then strict URL-safe decoding."""
    if not text.endswith("="):
        remainder = len(text) % 4
        if remainder == 1:
            raise BuiltinError(f"illegal base64url string: {text}")
        text += "=" * ((4 - remainder) % 4)
    # Go's decoder skips CR and LF anywhere; any other character outside the alphabet fails.
    cleaned = text.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(cleaned.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise BuiltinError("illegal base64 data") from None


def base64url_encode_raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _no_constants(name: str) -> Any:
    raise BuiltinError(f"invalid JSON: {name}")


def json_loads(text: str) -> Any:
    """Go's JSON reader as OPA uses it: exact numbers, last duplicate key wins, no NaN."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BuiltinError(f"invalid JSON: {exc}") from None


def json_object(text: str) -> dict[str, Any]:
    value = json_loads(text)
    if not isinstance(value, dict):
        raise BuiltinError("decoded JSON type was not an Object")
    return value


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_dumps(value: Any) -> bytes:
    """Go's ``json.Marshal`` of an OPA value: compact, keys sorted, <, > and & escaped."""
    text = json.dumps(
        _plain(value), ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    )
    for char, escape in _HTML_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode("utf-8", errors="surrogatepass")


def _plain(value: Any) -> Any:
    """Sets become sorted arrays (OPA's JSON form of a set); integral floats are written as ints."""
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return [_plain(v) for v in sorted(value, key=_sort_key)]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return json.dumps(_plain(key), separators=(",", ":"))


def _sort_key(value: Any) -> tuple[int, Any]:
    order = {type(None): 0, bool: 1, int: 2, float: 2, str: 3}
    rank = order.get(type(value), 4)
    return (rank, value if rank < 4 else json.dumps(_plain(value), sort_keys=True))


def require_string(value: Any, operand: int, name: str) -> str:
    if not isinstance(value, str):
        raise BuiltinError(f"{name}: operand {operand} must be string but got {_type_name(value)}")
    return value


def require_object(value: Any, operand: int, name: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise BuiltinError(f"{name}: operand {operand} must be object but got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {dict: "object", list: "array", set: "set", str: "string"}
    return names.get(type(value), "value")
