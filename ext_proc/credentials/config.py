"""The ``credentials:`` configuration section: upstream secrets and the token minter.

Checks that span keys run in ``__post_init__``, so msgspec reports them at the section's path
and the start-up error names the key.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ext_proc.credentials.decision import CREDENTIAL_NAME, valid_header_name, valid_prefix

DEFAULT_HEADER = "authorization"
DEFAULT_RELOAD_INTERVAL_SECONDS = 1.0
# Short-lived means minutes: a token leaked from a tool call is useless soon after.
DEFAULT_MAX_TTL_SECONDS = 900
DEFAULT_TTL_SECONDS = 300
MAX_TTL_LIMIT_SECONDS = 86_400

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
TtlSeconds = Annotated[int, msgspec.Meta(ge=1, le=MAX_TTL_LIMIT_SECONDS)]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class UpstreamCredentialConfig(_Section, frozen=True):
    # One file per credential (a mounted Secret key); read at start and again when it changes.
    file: str
    header: str = DEFAULT_HEADER
    # Put before the file's content, e.g. "Bearer ".
    prefix: str = ""

    def problem(self) -> str | None:
        # Checked by CredentialsConfig, whose message can name the credential (msgspec reports
        # errors inside a dict value without the key).
        if not self.file:
            return "file: the file name is empty"
        if not valid_header_name(self.header):
            return f"header: expected a lower-case header name (not a connection header), got {self.header!r}"
        if not valid_prefix(self.prefix):
            return "prefix: CR, LF and NUL are not allowed"
        return None


class MintingConfig(_Section, frozen=True):
    # A PEM private key (Ed25519, EC P-256 or RSA of 2048 bits or more) that signs per-task
    # tokens; unset: no token is minted. Re-read on change: the previous key stays published.
    key_file: str | None = None
    # The tokens' `iss`; upstreams check it.
    issuer: str | None = None
    max_ttl_seconds: TtlSeconds = DEFAULT_MAX_TTL_SECONDS
    # The lifetime of a token whose decision gives none (capped at max_ttl_seconds).
    default_ttl_seconds: TtlSeconds = DEFAULT_TTL_SECONDS
    # More keys to publish in the JWKS, never used to sign (PEM, public or private): the next
    # key before a rotation, or the previous one across a restart.
    published_key_files: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.key_file is not None

    def __post_init__(self) -> None:
        if self.key_file is None:
            if self.published_key_files:
                raise ValueError("published_key_files needs key_file")
            return
        if not self.issuer:
            raise ValueError("issuer is required when key_file is set")


class CredentialsConfig(_Section, frozen=True):
    upstream: dict[str, UpstreamCredentialConfig] = msgspec.field(default_factory=dict)
    minting: MintingConfig = msgspec.field(default_factory=MintingConfig)
    reload_interval_seconds: PositiveFloat = DEFAULT_RELOAD_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        for name, credential in self.upstream.items():
            if not CREDENTIAL_NAME.match(name):
                raise ValueError(
                    f"upstream: {name!r}: a credential name is 1-64 lower-case letters, digits, '.', '-', '_'"
                )
            problem = credential.problem()
            if problem is not None:
                raise ValueError(f"upstream.{name}.{problem}")
