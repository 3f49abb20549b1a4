"""HTTP pieces of the input shared by ext_authz and ext_proc: path, query and body parsing.

These follow opa-envoy-plugin (Go's net/url and encoding/json) so that existing policies see the
same values: ``parsed_path`` is the percent-decoded path split on "/" after leading slashes are
trimmed, ``parsed_query`` maps each key to the list of its values, and ``parsed_body`` is the
JSON document (or, a Chaperone addition, the form fields) of a complete body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy_input.go_url import GoUrlError, parse_query, path_unescape

PROTOJSON_VERSION = {"ext_authz": "v3", "encoding": "protojson"}


def parse_path_and_query(path: str) -> tuple[list[str], dict[str, list[str]]]:
    """``/a/b%20c?x=1&x=2`` -> (["a", "b c"], {"x": ["1", "2"]}), with Go's rules (go_url.py).

    The path is cut at the first "?" (no fragment handling: Envoy sends none), unescaped, its
    leading slashes trimmed and split on "/"; the query goes through url.ParseQuery. What Go
    refuses (a bad escape, a ";" in the query, over 10,000 parameters) is a request_parse_error.
    """
    raw_path, _, raw_query = path.partition("?")
    try:
        parsed_path = path_unescape(raw_path).lstrip("/").split("/")
        parsed_query = parse_query(raw_query)
    except GoUrlError as exc:
        raise ChaperoneError(
            ErrorCode.REQUEST_PARSE_ERROR,
            "the request path or query cannot be parsed",
            http_status=400,
            detail=str(exc),
        ) from None
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
