"""The ``identity:`` configuration section: how agents prove who they are.

Each mechanism is off until its file (or URL, or trust domain) is set, so an empty section is a
working configuration in which every request is anonymous. Checks that span keys run in
``__post_init__``: msgspec reports their message at the section's path, so the service's
start-up error names the key (``config error at identity.jwt: issuer is required ...``).
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from ext_proc.identity.spiffe import parse_pattern, valid_trust_domain

DEFAULT_API_KEY_HEADER = "x-api-key"
DEFAULT_RELOAD_INTERVAL_SECONDS = 1.0
# Larger credential headers are refused before any hashing or parsing (a JWT with a generous
# claim set stays under 4 KiB; Envoy's own default header limit is 60 KiB for all headers).
DEFAULT_MAX_CREDENTIAL_BYTES = 8192
# RFC 7519 §4.1.4 allows "some small leeway, usually no more than a few minutes".
DEFAULT_JWT_LEEWAY_SECONDS = 30.0
MAX_JWT_LEEWAY_SECONDS = 300.0
DEFAULT_AGENT_CLAIM = "sub"
DEFAULT_JWT_CACHE_SIZE = 10_000
DEFAULT_JWKS_REFRESH_SECONDS = 300.0
# A token with an unknown kid may fetch the key set again, at most this often: forged kids must
# not turn into a request flood against the identity provider.
DEFAULT_JWKS_MIN_REFETCH_SECONDS = 30.0
DEFAULT_JWKS_TIMEOUT_MS = 1000

# Asymmetric algorithms verify with a key from the JWKS; HS256 with the secret file only.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
Algorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256"]
DEFAULT_JWT_ALGORITHMS: tuple[Algorithm, ...] = ("RS256", "ES256", "EdDSA")

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
HeaderName = Annotated[str, msgspec.Meta(pattern=r"^[!#$%&'*+\-.^_`|~0-9a-z]+$")]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ApiKeysConfig(_Section, frozen=True):
    # The key file: agent id -> hash or list of hashes (`chaperone keys new AGENT` writes a line).
    # Unset: API keys are not accepted.
    file: str | None = None
    # A header that carries the raw key (Anthropic's SDKs send theirs in x-api-key); null: none.
    header: HeaderName | None = DEFAULT_API_KEY_HEADER
    # Also accept `Authorization: Bearer <key>` (what OpenAI's SDKs send).
    bearer: bool = True
    # A secret mixed into the hashes (HMAC-SHA256): a leaked key file alone cannot confirm a key.
    pepper_file: str | None = None

    @property
    def enabled(self) -> bool:
        return self.file is not None

    def __post_init__(self) -> None:
        if self.file is not None and self.header is None and not self.bearer:
            raise ValueError("header is null and bearer is false: no header could carry an API key")
        if self.header == "authorization":
            raise ValueError("header: keys in Authorization are read with `bearer: true`, not as header")


class JwtConfig(_Section, frozen=True):
    jwks_file: str | None = None
    jwks_url: str | None = None
    hs256_secret_file: str | None = None
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    algorithms: tuple[Algorithm, ...] = DEFAULT_JWT_ALGORITHMS
    leeway_seconds: Annotated[float, msgspec.Meta(ge=0, le=MAX_JWT_LEEWAY_SECONDS)] = (
        DEFAULT_JWT_LEEWAY_SECONDS
    )
    agent_claim: Annotated[str, msgspec.Meta(min_length=1)] = DEFAULT_AGENT_CLAIM
    cache_size: Annotated[int, msgspec.Meta(ge=0)] = DEFAULT_JWT_CACHE_SIZE
    jwks_refresh_seconds: PositiveFloat = DEFAULT_JWKS_REFRESH_SECONDS
    jwks_min_refetch_seconds: Annotated[float, msgspec.Meta(ge=0)] = DEFAULT_JWKS_MIN_REFETCH_SECONDS
    jwks_timeout_ms: PositiveInt = DEFAULT_JWKS_TIMEOUT_MS

    @property
    def enabled(self) -> bool:
        return any(s is not None for s in (self.jwks_file, self.jwks_url, self.hs256_secret_file))

    def __post_init__(self) -> None:
        if not self.enabled:
            return
        if self.jwks_file is not None and self.jwks_url is not None:
            raise ValueError("jwks_file and jwks_url are exclusive: set one")
        # RFC 8725 §3.8-3.9: a token must be checked for who issued it and whom it is for.
        if not self.issuer:
            raise ValueError("issuer is required when JWTs are accepted")
        if not self.audiences or not all(self.audiences):
            raise ValueError("audiences: at least one non-empty audience is required when JWTs are accepted")
        if not self.algorithms:
            raise ValueError("algorithms: at least one algorithm is required")
        has_keys = self.jwks_file is not None or self.jwks_url is not None
        if any(a in ASYMMETRIC_ALGORITHMS for a in self.algorithms) and not has_keys:
            raise ValueError("algorithms: RS/PS/ES/EdDSA algorithms need jwks_file or jwks_url")
        if ("HS256" in self.algorithms) != (self.hs256_secret_file is not None):
            raise ValueError("algorithms: HS256 is accepted if and only if hs256_secret_file is set")
        if self.jwks_url is not None:
            _check_jwks_url(self.jwks_url)


def _check_jwks_url(url: str) -> None:
    # Keys fetched in the clear could be swapped by anyone on the path: https, except loopback.
    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if (
        not parts.hostname
        or parts.scheme not in ("https", "http")
        or (parts.scheme == "http" and not loopback)
    ):
        raise ValueError(f"jwks_url: expected an https:// URL (http:// only to a loopback host), got {url!r}")


class SpiffeConfig(_Section, frozen=True):
    # The SPIFFE trust domain whose workloads are agents (e.g. cluster.local); unset: mTLS peer
    # identities are not used.
    trust_domain: str | None = None
    # The SPIFFE ID path that names an agent, with {agent} for the segment that is the agent id
    # and * for any one segment: "/ns/agents/sa/{agent}".
    agent_from: str | None = None

    @property
    def enabled(self) -> bool:
        return self.trust_domain is not None

    def __post_init__(self) -> None:
        if (self.trust_domain is None) != (self.agent_from is None):
            raise ValueError("trust_domain and agent_from are set together")
        if self.trust_domain is not None and not valid_trust_domain(self.trust_domain):
            raise ValueError(
                f"trust_domain: expected lower-case letters, digits, '.', '-', '_', got {self.trust_domain!r}"
            )
        if self.agent_from is not None:
            parse_pattern(self.agent_from)  # raises ValueError naming the problem


class IdentityConfig(_Section, frozen=True):
    api_keys: ApiKeysConfig = msgspec.field(default_factory=ApiKeysConfig)
    jwt: JwtConfig = msgspec.field(default_factory=JwtConfig)
    spiffe: SpiffeConfig = msgspec.field(default_factory=SpiffeConfig)
    # How often the key file, JWKS file and secret files are checked for changes.
    reload_interval_seconds: PositiveFloat = DEFAULT_RELOAD_INTERVAL_SECONDS
    max_credential_bytes: Annotated[int, msgspec.Meta(ge=64, le=65536)] = DEFAULT_MAX_CREDENTIAL_BYTES

    @property
    def enabled(self) -> bool:
        return self.api_keys.enabled or self.jwt.enabled or self.spiffe.enabled
