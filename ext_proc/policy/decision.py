"""The decision contract: what a policy returns, checked field by field.

A decision is a boolean or an object with opa-envoy-plugin's fields (``allowed``, ``headers``,
``request_headers_to_remove``, ``response_headers_to_add``, ``http_status``, ``body``,
``dynamic_metadata``, ``query_parameters_to_set``, ``query_parameters_to_remove``) plus
Chaperone's own (``reasons``, ``json_error``, ``response_headers_to_remove``, ``inspect``,
``replace_body``, and ``sensitive_data``, ``rewrite`` and ``injection``, see directives.py;
``require_approval``, see
approvals/requirement.py; ``credential`` and ``mint_token``, see credentials/decision.py;
``limits`` and ``budgets``, see limits/fields.py).
Every shape error names the field, the expected type and the actual one; the caller turns it into
a deny with the ``decision_invalid`` code, never into an allow.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from envoy.type.v3 import http_status_pb2

from ext_proc.approvals.requirement import ApprovalRequirement, parse_require_approval
from ext_proc.credentials.decision import MintToken, parse_credential, parse_mint_token
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.json_names import json_type
from ext_proc.limits.fields import Budget, RateLimit, parse_budgets, parse_limits
from ext_proc.policy.directives import (
    NO_REWRITE,
    Rewrite,
    parse_injection,
    parse_rewrite,
    parse_sensitive_data,
)

Headers = tuple[tuple[str, str], ...]

# opa-envoy-plugin takes a status that Go names and Envoy's StatusCode enum has: that is every
# code of the enum (it has no 418, 425 or 451); 1xx is no final status for a deny.
_VALID_STATUSES = frozenset(
    code.number for code in http_status_pb2.StatusCode.DESCRIPTOR.values if code.number >= 200
)
_FORBIDDEN_HEADER_CHARS = ("\r", "\n", "\0")
# RFC 9110 token characters; a leading colon admits the HTTP/2 pseudo-headers (:path, :authority).
_HEADER_NAME = re.compile(r":?[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class BodyMode(enum.StrEnum):
    """How a body phase reaches the policy (Envoy ext_proc body send modes)."""

    NONE = "none"
    BUFFERED = "buffered"  # one message with the whole body; header changes still possible
    STREAMED = "streamed"  # one message per chunk, as it arrives


@dataclass(frozen=True, slots=True)
class Inspection:
    """Which later phases of this HTTP request the policy wants to see."""

    request_body: BodyMode = BodyMode.NONE
    response_headers: bool = False
    response_body: BodyMode = BodyMode.NONE

    @property
    def any(self) -> bool:
        return self != NO_INSPECTION

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_body": self.request_body.value,
            "response_headers": self.response_headers,
            "response_body": self.response_body.value,
        }


NO_INSPECTION = Inspection()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    http_status: int | None = None
    body: bytes | None = None
    headers: Headers = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: Headers = ()
    response_headers_to_remove: tuple[str, ...] = ()
    query_parameters_to_set: Headers = ()
    query_parameters_to_remove: tuple[str, ...] = ()
    dynamic_metadata: Mapping[str, Any] | None = None
    reasons: tuple[str, ...] = ()
    json_error: bool = False
    inspect: Inspection = NO_INSPECTION
    replace_body: bytes | None = None
    sensitive_data: Mapping[str, str] | None = None
    rewrite: Rewrite = NO_REWRITE
    injection: str = "keep"
    require_approval: ApprovalRequirement | None = None
    credential: str | None = None
    mint_token: MintToken | None = None
    limits: tuple[RateLimit, ...] = ()
    budgets: tuple[Budget, ...] = ()
    # The value the policy returned, for the audit trail and `chaperone policy eval`.
    raw: Any = field(default=None, compare=False, repr=False)


ALLOW = Decision(allowed=True, raw=True)
DENY = Decision(allowed=False, raw=False)


def parse_decision(value: Any) -> Decision:
    """Turn an evaluation result into a Decision, or raise ChaperoneError(decision_invalid)."""
    if value is True:
        return ALLOW
    if value is False:
        return DENY
    if not isinstance(value, dict):
        _fail("decision", "boolean or object", value)
    if "allowed" not in value:
        raise ChaperoneError(ErrorCode.DECISION_INVALID, 'decision object has no "allowed" field')
    allowed = value["allowed"]
    if not isinstance(allowed, bool):
        _fail("allowed", "boolean", allowed)
    # opa-envoy-plugin reads (and type-checks) the deny fields only for a deny, the allow fields
    # only for an allow: a field it ignores is no error here either.
    return Decision(
        allowed=allowed,
        http_status=None if allowed else _status(value.get("http_status")),
        body=None if allowed else _body(value, "body"),
        headers=_headers(value, "headers"),
        request_headers_to_remove=_names(value, "request_headers_to_remove") if allowed else (),
        response_headers_to_add=_headers(value, "response_headers_to_add") if allowed else (),
        response_headers_to_remove=_names(value, "response_headers_to_remove"),
        query_parameters_to_set=_query_parameters(value) if allowed else (),
        query_parameters_to_remove=(
            _names(value, "query_parameters_to_remove", header_names=False) if allowed else ()
        ),
        dynamic_metadata=_object(value, "dynamic_metadata"),
        reasons=_reasons(value.get("reasons")),
        json_error=_flag(value, "json_error"),
        inspect=parse_inspection(value.get("inspect")),
        replace_body=_body(value, "replace_body"),
        sensitive_data=parse_sensitive_data(value.get("sensitive_data")),
        rewrite=parse_rewrite(value.get("rewrite")),
        injection=parse_injection(value.get("injection")),
        require_approval=parse_require_approval(value.get("require_approval")),
        credential=parse_credential(value.get("credential")),
        mint_token=parse_mint_token(value.get("mint_token")),
        limits=parse_limits(value.get("limits")),
        budgets=parse_budgets(value.get("budgets")),
        raw=value,
    )


def _fail(name: str, expected: str, actual: Any) -> Any:
    raise ChaperoneError(
        ErrorCode.DECISION_INVALID, f"decision field {name}: expected {expected}, got {json_type(actual)}"
    )


def _status(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        return _fail("http_status", "integer", value)  # type: ignore[no-any-return]
    if int(value) not in _VALID_STATUSES:
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID, f"decision field http_status: {value} is not an HTTP status"
        )
    return int(value)


def _body(decision: dict[str, Any], name: str) -> bytes | None:
    value = decision.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict | list):
        return orjson.dumps(value)  # a structured body is sent as JSON
    return _fail(name, "string, object or array", value)  # type: ignore[no-any-return]


def _headers(decision: dict[str, Any], name: str, *, header_names: bool = True) -> Headers:
    value = decision.get(name)
    if value is None:
        return ()
    groups = value if isinstance(value, list) else [value]
    pairs: list[tuple[str, str]] = []
    for group in groups:
        if not isinstance(group, dict):
            _fail(name, "object or array of objects", group)
        for key, item in group.items():
            values = item if isinstance(item, list) else [item]
            for one in values:
                if not isinstance(one, str):
                    _fail(f"{name}.{key}", "string or array of strings", one)
                _check_text(f"{name}.{key}", one)
                pairs.append((_header_name(name, key) if header_names else key, one))
    return tuple(pairs)


def _query_parameters(decision: dict[str, Any]) -> Headers:
    value = decision.get("query_parameters_to_set")
    if value is not None and not isinstance(value, dict):
        _fail("query_parameters_to_set", "object", value)
    return _headers(decision, "query_parameters_to_set", header_names=False)


def _flag(decision: dict[str, Any], name: str) -> bool:
    value = decision.get(name, False)
    if not isinstance(value, bool):
        _fail(name, "boolean", value)
    return bool(value)


def _names(decision: dict[str, Any], name: str, *, header_names: bool = True) -> tuple[str, ...]:
    value = decision.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        return _fail(name, "array of strings", value)  # type: ignore[no-any-return]
    for item in value:
        if not isinstance(item, str):
            _fail(f"{name}[]", "string", item)
    return tuple(_header_name(name, item) if header_names else item for item in value)


def _header_name(field_name: str, key: str) -> str:
    if not _HEADER_NAME.fullmatch(key):
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID, f"decision field {field_name}: invalid header name {key!r}"
        )
    return key.lower()


def _check_text(name: str, value: str) -> None:
    # A CR or LF in a header value would let a policy (or data it copied) split headers.
    if any(c in value for c in _FORBIDDEN_HEADER_CHARS):
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID, f"decision field {name}: value has a control character"
        )


def _object(decision: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = decision.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        return _fail(name, "object", value)  # type: ignore[no-any-return]
    return value


def _reasons(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        return _fail("reasons", "string or array of strings", value)  # type: ignore[no-any-return]
    for item in value:
        if not isinstance(item, str):
            _fail("reasons[]", "string", item)
    return tuple(value)


def parse_inspection(value: Any) -> Inspection:
    if value is None:
        return NO_INSPECTION
    if not isinstance(value, dict):
        return _fail("inspect", "object", value)  # type: ignore[no-any-return]
    unknown = set(value) - {"request_body", "response_headers", "response_body"}
    if unknown:
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID, f"decision field inspect: unknown key {sorted(unknown)[0]!r}"
        )
    response_headers = value.get("response_headers", False)
    if not isinstance(response_headers, bool):
        _fail("inspect.response_headers", "boolean", response_headers)
    return Inspection(
        request_body=_body_mode(value, "request_body"),
        response_headers=response_headers,
        response_body=_body_mode(value, "response_body"),
    )


def _body_mode(value: dict[str, Any], key: str) -> BodyMode:
    mode = value.get(key, "none")
    if mode is True:
        return BodyMode.BUFFERED
    if mode is False:
        return BodyMode.NONE
    try:
        return BodyMode(mode)
    except ValueError:
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID,
            f'decision field inspect.{key}: expected "none", "buffered" or "streamed", got {mode!r}',
        ) from None
