"""Which request headers carry an agent credential, and what kind (pure, no I/O).

Header names are lower-case, as Envoy hands them over (HTTP/2 and Envoy's HTTP/1 codec lower-case
them). ``Authorization`` is read only when a mechanism claims it: its scheme must then be
``Bearer`` (RFC 6750 §2.1: ``Bearer 1*SP b64token``; the scheme is case-insensitive, RFC 9110
§11.1). A bearer token shaped like a JWS compact serialization (three dot-separated parts) is a
JWT when JWTs are accepted; any other is an API key when bearer API keys are accepted. Keys made
by ``chaperone keys new`` contain no dot, so the two never overlap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from ext_proc.identity.model import IdentityError

AUTHORIZATION = "authorization"
BEARER = "bearer"
# RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
# An API key in its own header: visible ASCII, no spaces.
_VISIBLE = re.compile(r"^[\x21-\x7e]+$")


class CredentialKind(StrEnum):
    API_KEY = "api_key"
    JWT = "jwt"


@dataclass(frozen=True, slots=True)
class HeaderRules:
    api_key_header: str | None  # None: API keys are off, or only accepted as bearer tokens
    bearer_api_keys: bool
    bearer_jwt: bool
    max_bytes: int


class Presented(NamedTuple):
    """One credential found in a header; ``kind`` is None (and ``error`` set) when unusable.

    A named tuple: built for every request, it costs a fifth of a frozen dataclass.
    """

    header: str
    kind: CredentialKind | None
    value: str = ""
    error: IdentityError | None = None

    def __repr__(self) -> str:  # never show the credential
        return f"Presented(header={self.header!r}, kind={self.kind!r}, error={self.error!r})"


def presented_credentials(headers: Mapping[str, str], rules: HeaderRules) -> list[Presented]:
    found = []
    if rules.bearer_api_keys or rules.bearer_jwt:
        value = headers.get(AUTHORIZATION)
        if value is not None:
            found.append(_bearer(value, rules))
    if rules.api_key_header is not None:
        value = headers.get(rules.api_key_header)
        if value is not None:
            found.append(_api_key(rules.api_key_header, value, rules.max_bytes))
    return found


def _bearer(value: str, rules: HeaderRules) -> Presented:
    if len(value) > rules.max_bytes:
        return _malformed(AUTHORIZATION)
    scheme, _, token = value.partition(" ")
    token = token.lstrip(" ")
    if scheme.lower() != BEARER or not _B64TOKEN.match(token):
        return _malformed(AUTHORIZATION)
    if rules.bearer_jwt and (token.count(".") == 2 or not rules.bearer_api_keys):
        return Presented(AUTHORIZATION, CredentialKind.JWT, token)
    return Presented(AUTHORIZATION, CredentialKind.API_KEY, token)


def _api_key(header: str, value: str, max_bytes: int) -> Presented:
    if len(value) > max_bytes or not _VISIBLE.match(value):
        return _malformed(header)
    return Presented(header, CredentialKind.API_KEY, value)


def _malformed(header: str) -> Presented:
    return Presented(header, None, error=IdentityError.CREDENTIAL_MALFORMED)
