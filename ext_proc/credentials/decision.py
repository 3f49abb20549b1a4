"""The decision fields that ask for a brokered credential (pure; errors name the field).

- ``credential: "<name>"``: set this upstream credential (``credentials.upstream.<name>``) on the
  request before it leaves.
- ``mint_token: {"audience": ..., "ttl_seconds": ..., "claims": {...}, "header": "authorization",
  "prefix": "Bearer "}``: sign a short-lived token for the calling agent and set it on the
  request. ``audience`` is required (a string or an array of strings); the registered claims
  (iss, sub, aud, exp, nbf, iat, jti) are Chaperone's to set and cannot be given in ``claims``.

A shape error is ``decision_invalid`` and the request is refused, never sent without the
credential the policy asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ext_proc.errors import ChaperoneError, ErrorCode

CREDENTIAL_NAME = re.compile(r"^[a-z0-9]([a-z0-9_.-]{0,62}[a-z0-9])?$")
# RFC 7519 §4.1: the registered claims, which the minter sets itself.
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
DEFAULT_TOKEN_HEADER = "authorization"
DEFAULT_TOKEN_PREFIX = "Bearer "
# RFC 9110 token characters, lower-case as Envoy's header maps are.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9a-z]+$")
# Headers that describe the connection or the message framing, not the request: never set these.
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-connection",
    }
)
_MINT_KEYS = frozenset({"audience", "ttl_seconds", "claims", "header", "prefix"})


def valid_header_name(name: str) -> bool:
    return _HEADER_NAME.match(name) is not None and name not in FORBIDDEN_HEADERS


def valid_prefix(prefix: str) -> bool:
    return not any(c in prefix for c in "\r\n\0")


@dataclass(frozen=True, slots=True)
class MintToken:
    audience: str | tuple[str, ...]
    ttl_seconds: int | None = None  # None: credentials.minting.default_ttl_seconds
    claims: Mapping[str, Any] = field(default_factory=dict)
    header: str = DEFAULT_TOKEN_HEADER
    prefix: str = DEFAULT_TOKEN_PREFIX


def parse_credential(value: Any) -> str | None:
    """The ``credential`` field: a credential name, or None when the decision has none."""
    if value is None:
        return None
    if not isinstance(value, str) or not CREDENTIAL_NAME.match(value):
        raise _invalid(
            "credential", "a credential name (lower-case letters, digits, '.', '-', '_')", value, shaped=True
        )
    return value


def parse_mint_token(value: Any) -> MintToken | None:
    """The ``mint_token`` field, or None when the decision has none."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("mint_token", "object", value)
    unknown = set(value) - _MINT_KEYS
    if unknown:
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID, f"decision field mint_token: unknown key {sorted(unknown)[0]!r}"
        )
    return MintToken(
        audience=_audience(value.get("audience")),
        ttl_seconds=_ttl(value.get("ttl_seconds")),
        claims=_claims(value.get("claims")),
        header=_header(value.get("header", DEFAULT_TOKEN_HEADER)),
        prefix=_prefix(value.get("prefix", DEFAULT_TOKEN_PREFIX)),
    )


def _audience(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(a, str) and a for a in value):
        return tuple(value)
    raise _invalid(
        "mint_token.audience", "a non-empty string or array of non-empty strings", value, shaped=True
    )


def _ttl(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid("mint_token.ttl_seconds", "a positive integer", value)
    return value


def _claims(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("mint_token.claims", "object", value)
    reserved = sorted(RESERVED_CLAIMS.intersection(value))
    if reserved:
        raise ChaperoneError(
            ErrorCode.DECISION_INVALID,
            f"decision field mint_token.claims: {reserved[0]!r} is a registered claim that Chaperone sets",
        )
    return value


def _header(value: Any) -> str:
    if not isinstance(value, str) or not valid_header_name(value):
        raise _invalid(
            "mint_token.header", "a lower-case header name (not a connection header)", value, shaped=True
        )
    return value


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not valid_prefix(value):
        raise _invalid("mint_token.prefix", "a string without CR, LF or NUL", value, shaped=True)
    return value


def _invalid(name: str, expected: str, actual: Any, *, shaped: bool = False) -> ChaperoneError:
    # shaped: a string is the right type, so a string given is of the wrong shape.
    got = "a string of another shape" if shaped and isinstance(actual, str) and actual else _describe(actual)
    return ChaperoneError(
        ErrorCode.DECISION_INVALID, f"decision field {name}: expected {expected}, got {got}"
    )


def _describe(value: Any) -> str:
    # The type, never the content (a policy could put anything there).
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string" if value else "an empty string"
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)
