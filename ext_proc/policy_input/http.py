"""HTTP pieces of the input shared by ext_authz and ext_proc: path, query and body parsing.

These follow opa-envoy-plugin (Go's net/url and encoding/json) so that existing policies see the
same values: ``parsed_path`` is the percent-decoded path split on "/" after leading slashes are
trimmed, ``parsed_query`` maps each key to the list of its values, and ``parsed_body`` is the
JSON document (or, a Chaperone addition, the form fields) of a complete body.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

PROTOJSON_VERSION = {"ext_authz": "v3", "encoding": "protojson"}


def parse_path_and_query(path: str) -> tuple[list[str], dict[str, list[str]]]:
    """``/a/b%20c?x=1&x=2`` -> (["a", "b c"], {"x": ["1", "2"]})."""
    try:
        parts = urlsplit(path)
    except ValueError:  # "//[x": a path read as an authority with a malformed IPv6 host, as in Go
        raise ChaperoneError(
            ErrorCode.REQUEST_PARSE_ERROR, "the request path cannot be parsed", http_status=400
        ) from None
    if _BAD_ESCAPE.search(parts.path):
        raise ChaperoneError(
            ErrorCode.REQUEST_PARSE_ERROR, "the request path has an invalid percent-escape", http_status=400
        )
    parsed_path = unquote(parts.path).lstrip("/").split("/")
    parsed_query = parse_qs(parts.query, keep_blank_values=True) if parts.query else {}
    return parsed_path, parsed_query


def media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def parse_body(
    content_type: str | None, body: bytes, *, duplicates: strict_json.Duplicates = "refuse"
) -> Any:
    """The parsed body for JSON and form bodies; None for other types or an empty body.

    A body that claims JSON but is not is an error (fail closed): a policy must never see
    "no parsed body" for a request that the upstream will parse differently. JSON is read by
    the strict parser (``ext_proc/strict_json.py``); ``duplicates="last"`` reads duplicate keys
    as opa-envoy-plugin does instead of refusing them.
    """
    if not body:
        return None
    kind = media_type(content_type)
    if kind == "application/json" or kind.endswith("+json"):
        strict_json.check_charset(content_type)
        return parse_json(body, duplicates=duplicates)
    if kind == "application/x-www-form-urlencoded":
        text = decode_utf8(body)
        return parse_qs(text, keep_blank_values=True)
    return None


def parse_json(body: bytes, *, duplicates: strict_json.Duplicates = "refuse") -> Any:
    """A JSON request body, strictly (400 ``body_*`` errors otherwise)."""
    return strict_json.loads(body, duplicates=duplicates)


def decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChaperoneError(
            ErrorCode.BODY_DECODE_ERROR, f"the body is not valid UTF-8 (byte {exc.start})", http_status=400
        ) from None
