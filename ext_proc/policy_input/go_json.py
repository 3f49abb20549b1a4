"""JSON as opa-envoy-plugin decodes a check body: Go's encoding/json with UseNumber (OPA's
util.UnmarshalJSON).

What that means for the policy, and differs from orjson:
- integers of any size stay exact (``123456789012345678901234567890`` is not a float);
- a duplicate key is not an error: the last value wins (Go fills a map in order);
- invalid UTF-8 inside a string becomes U+FFFD per byte, as does an unpaired ``\\ud800`` escape;
- NaN, Infinity, a byte-order mark, or anything after the value is an error.

Go nests up to 10,000 levels; Python's decoder stops at its recursion limit (about 1,000), and
such a body is refused as malformed, never passed unparsed.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ext_proc.policy_input.go_url import go_string

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class GoJsonError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise GoJsonError(f"invalid character {name[0]!r} looking for beginning of value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise GoJsonError(f"number {text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def loads(body: bytes) -> Any:
    text = go_string(body)
    if text.startswith("\ufeff"):
        raise GoJsonError("invalid character 'ï' looking for beginning of value")
    try:
        value, end = _DECODER.raw_decode(text, _skip_space(text, 0))
    except json.JSONDecodeError as exc:
        raise GoJsonError(exc.msg) from None
    except RecursionError:
        raise GoJsonError("exceeded max depth") from None
    if _skip_space(text, end) != len(text):
        raise GoJsonError("invalid character after top-level value")
    if "\\u" in text and _has_surrogate(value):
        value = _replace_surrogates(value)
    return value


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value
