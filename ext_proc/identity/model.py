"""Who is calling: the identity document handed to policies as ``input.agent``.

``IdentityError`` codes are part of the policy contract (documented in policies/README.md,
section "Agent identity"): add new ones, never rename. An identity never holds a credential,
only what was proven with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AuthMethod(StrEnum):
    API_KEY = "api_key"
    JWT = "jwt"
    SPIFFE = "spiffe"


class IdentityError(StrEnum):
    # No credential at all, where identity is configured: an anonymous call is refused unless a
    # policy allows it (the default policy: data.chaperone.allow_anonymous).
    CREDENTIAL_MISSING = "credential_missing"
    # A credential header that cannot hold a credential: too large, characters outside visible
    # ASCII, empty, or an Authorization scheme other than Bearer.
    CREDENTIAL_MALFORMED = "credential_malformed"
    # Several valid credentials that name different agents.
    CREDENTIAL_CONFLICT = "credential_conflict"
    API_KEY_INVALID = "api_key_invalid"
    JWT_MALFORMED = "jwt_malformed"
    JWT_ALGORITHM_NOT_ALLOWED = "jwt_algorithm_not_allowed"
    JWT_UNKNOWN_KID = "jwt_unknown_kid"
    JWT_KEYS_UNAVAILABLE = "jwt_keys_unavailable"
    JWT_BAD_SIGNATURE = "jwt_bad_signature"
    JWT_EXPIRED = "jwt_expired"
    JWT_NOT_YET_VALID = "jwt_not_yet_valid"
    JWT_WRONG_ISSUER = "jwt_wrong_issuer"
    JWT_WRONG_AUDIENCE = "jwt_wrong_audience"
    JWT_MISSING_CLAIM = "jwt_missing_claim"
    SPIFFE_ID_INVALID = "spiffe_id_invalid"
    SPIFFE_ID_NOT_MAPPED = "spiffe_id_not_mapped"
    # The agent id a credential yields (a JWT claim) is not a usable id.
    AGENT_ID_INVALID = "agent_id_invalid"
    # An unexpected failure while verifying (logged); never an allow.
    IDENTITY_ERROR = "identity_error"


# Agent ids become policy data keys, metric labels and log fields: visible ASCII, bounded.
AGENT_ID = re.compile(r"^[\x21-\x7e]{1,256}$")


def valid_agent_id(value: object) -> bool:
    return isinstance(value, str) and AGENT_ID.match(value) is not None


@dataclass(frozen=True, slots=True)
class Proof:
    """What one verified credential established (internal to the identifier).

    Proofs are kept and reused (one per stored API key, per cached token, per known workload), and
    so is the identity each one alone yields: building a frozen dataclass costs about a
    microsecond and a half, which a request proven by one credential need not pay.
    """

    agent_id: str
    method: AuthMethod
    claims: Mapping[str, Any] | None = None
    spiffe_id: str | None = None
    key_id: str | None = None
    expires_at: float | None = None
    _identities: dict[tuple[str, ...], AgentIdentity] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def identity(self, credential_headers: tuple[str, ...]) -> AgentIdentity:
        """The identity this proof alone establishes, the given headers to strip."""
        identity = self._identities.get(credential_headers)
        if identity is None:
            identity = AgentIdentity(
                authenticated=True,
                agent_id=self.agent_id,
                method=self.method,
                methods=(self.method,),
                claims=self.claims,
                spiffe_id=self.spiffe_id,
                key_id=self.key_id,
                expires_at=self.expires_at,
                credential_headers=credential_headers,
            )
            self._identities[credential_headers] = identity
        return identity


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """The outcome of identification for one request.

    ``credential_headers`` names (lower-case) every request header that was read as an agent
    credential, valid or not: the caller removes them before the request leaves, so an agent's
    own credential never reaches the upstream. ``claims`` is shared between requests carrying
    the same token: read it, never change it.
    """

    authenticated: bool = False
    agent_id: str | None = None
    method: AuthMethod | None = None
    methods: tuple[AuthMethod, ...] = ()
    claims: Mapping[str, Any] | None = None
    spiffe_id: str | None = None
    key_id: str | None = None
    expires_at: float | None = None
    error: IdentityError | None = None
    credential_headers: tuple[str, ...] = ()

    def as_input(self) -> dict[str, Any]:
        """The ``input.agent`` document (plain JSON types)."""
        return {
            "authenticated": self.authenticated,
            "id": self.agent_id,
            "method": None if self.method is None else self.method.value,
            "methods": [m.value for m in self.methods],
            "claims": None if self.claims is None else dict(self.claims),
            "spiffe_id": self.spiffe_id,
            "key_id": self.key_id,
            "expires_at": self.expires_at,
            "error": None if self.error is None else self.error.value,
        }


ANONYMOUS = AgentIdentity()
# A call without any credential where identity is configured: not merely anonymous, missing one.
MISSING = AgentIdentity(error=IdentityError.CREDENTIAL_MISSING)
