"""``parsed_body`` and ``truncated_body`` of the check, as opa-envoy-plugin computes them (request.go).

The plugin's rules, in its order:
- ``x-envoy-auth-partial-body: true`` (Envoy sent a prefix): not parsed, truncated;
- the content type is matched by substring, case-sensitive, in this order: ``application/json``
  (so ``application/vnd.api+json`` is not parsed, and ``Application/JSON`` neither),
  ``application/grpc`` (parsed only with a proto descriptor, which Chaperone does not take:
  null), ``application/x-www-form-urlencoded`` (url.ParseQuery), ``multipart/form-data``;
  anything else, or no content type: null;
- for those three, an empty body is null; a Content-Length above the body's length means
  truncated (not parsed); a Content-Length that is not a number is an error;
- a body that does not parse is an error: the request is refused with 400 before any policy.
  JSON is read by the shared strict parser (ext_proc/strict_json.py) with Go's last-wins
  duplicate keys and exact integers; where it is stricter than Go (broken UTF-8, lone
  surrogates, nesting over 200 levels, numbers beyond a double) the body is refused, not guessed.

The body is ``attributes.request.http.body``, or ``raw_body`` when Envoy packs it as bytes.
"""

from __future__ import annotations

from typing import Any

from ext_proc import strict_json
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy_input.go_mime import GoMimeError, parse_media_type, read_parts
from ext_proc.policy_input.go_url import GoUrlError, go_string, parse_query

PARTIAL_BODY_HEADER = "x-envoy-auth-partial-body"
_JSON = "application/json"
_GRPC = "application/grpc"
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


def parsed_body(headers: Any, body: str, raw_body: bytes) -> tuple[Any, bool]:
    """(parsed_body, truncated_body) for a check whose request carried ``headers`` and body."""
    if headers.get(PARTIAL_BODY_HEADER) == "true":
        return None, True
    content_type = headers.get("content-type")
    if content_type is None:
        return None, False
    if _JSON in content_type:
        return _parse(headers, body, raw_body, _json)
    if _GRPC in content_type:
        return None, False
    if _FORM in content_type:
        return _parse(headers, body, raw_body, _form)
    if _MULTIPART in content_type:
        return _parse(headers, body, raw_body, lambda data: _multipart(content_type, data))
    return None, False


def _parse(headers: Any, body: str, raw_body: bytes, parse: Any) -> tuple[Any, bool]:
    data = body.encode("utf-8") if body else raw_body
    if not data:
        return None, False
    length = headers.get("content-length")
    if length is not None and _truncated(length, len(data)):
        return None, True
    return parse(data), False


def _truncated(content_length: str, body_length: int) -> bool:
    try:
        declared = _go_parse_int(content_length)
    except ValueError:
        raise _parse_error(f'strconv.ParseInt: parsing "{content_length}": invalid syntax') from None
    return declared != -1 and declared > body_length


def _go_parse_int(text: str) -> int:
    """strconv.ParseInt(s, 10, 64): an optional sign and ASCII digits only."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(text)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def _json(data: bytes) -> Any:
    # The shared strict parser, reading duplicate keys as Go does (the last one wins). Where it
    # is stricter than Go (invalid UTF-8 or a lone surrogate, which Go turns into U+FFFD; more
    # than 200 levels of nesting; a number beyond a double), the body is refused with 400.
    return strict_json.loads(data, duplicates="last")


def _form(data: bytes) -> dict[str, list[str]]:
    # Go reads the bytes as they are; a form that is not UTF-8 is refused here (400), as the
    # strict JSON parser refuses one, rather than shown to the policy with replacement characters.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"the form body is not valid UTF-8 (byte {exc.start})"
        raise ChaperoneError(ErrorCode.BODY_DECODE_ERROR, message, http_status=400) from None
    try:
        return parse_query(text)
    except GoUrlError as exc:
        raise _parse_error(str(exc)) from None


def _multipart(content_type: str, data: bytes) -> dict[str, list[Any]] | None:
    try:
        _, params = parse_media_type(content_type)
        if "boundary" not in params:
            return None
        values: dict[str, list[Any]] = {}
        for part in read_parts(data, params["boundary"]):
            name = part.form_name()
            if not name:
                continue
            if _JSON in part.header("content-type"):
                values.setdefault(name, []).append(_json(part.body))
            else:
                _require_utf8(part.body)
                values.setdefault(name, []).append(go_string(part.body))
    except GoMimeError as exc:
        raise _parse_error(str(exc)) from None
    return values


def _require_utf8(data: bytes) -> None:
    """Text that is not UTF-8 is refused (400), as the JSON parser refuses it: Go would turn each
    bad byte into U+FFFD, so the policy and the upstream could read different text. Refused here,
    whether or not the policy reads ``parsed_body``."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChaperoneError(
            ErrorCode.BODY_DECODE_ERROR, "the request body is not valid UTF-8", http_status=400
        ) from None


def _parse_error(go_message: str) -> ChaperoneError:
    # Go's message can quote part of the body: it is the detail, never logged.
    return ChaperoneError(
        ErrorCode.REQUEST_PARSE_ERROR, "the request body cannot be parsed", http_status=400, detail=go_message
    )
