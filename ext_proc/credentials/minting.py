"""Per-task credentials: short-lived JWTs that Chaperone signs for the calling agent.

A policy that lets an agent call a tool can hand it a token scoped to that call (``aud`` the
tool, a lifetime of minutes, extra claims such as the task) instead of a standing secret.
Upstreams verify it against Chaperone's published key set (``/.well-known/jwks.json``).

Rotation: when the key file changes, the new key signs from then on, and the previous one stays
in the key set for the longest lifetime a token can have (``max_ttl_seconds``) plus a grace
period for verifiers' clock leeway, so tokens signed just before the rotation still verify.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jwt
import structlog

from ext_proc.credentials.config import MintingConfig
from ext_proc.credentials.decision import RESERVED_CLAIMS
from ext_proc.credentials.signing_keys import (
    MAX_KEY_FILE_BYTES,
    SigningKey,
    load_published_key,
    load_signing_key,
)
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.watch import WatchedFile

log = structlog.get_logger("chaperone.credentials")

# Covers verifiers' leeway and clock skew on top of the longest token lifetime.
ROTATION_GRACE_SECONDS = 120
MAX_RETIRED_KEYS = 4
JTI_BYTES = 16


class TokenMinter:
    def __init__(self, config: MintingConfig, clock: Callable[[], float] = time.time) -> None:
        assert config.key_file is not None and config.issuer is not None, "checked by MintingConfig"
        self._issuer = config.issuer
        self._max_ttl = config.max_ttl_seconds
        self._default_ttl = min(config.default_ttl_seconds, config.max_ttl_seconds)
        self._clock = clock
        self._key_file = WatchedFile(
            "credentials.minting.key_file", config.key_file, load_signing_key, max_bytes=MAX_KEY_FILE_BYTES
        )
        self._published = [
            WatchedFile(
                f"credentials.minting.published_key_files[{i}]",
                path,
                load_published_key,
                max_bytes=MAX_KEY_FILE_BYTES,
            )
            for i, path in enumerate(config.published_key_files)
        ]
        self._current: SigningKey = self._key_file.value
        # (key, when it stopped signing), newest last; replaced whole, never mutated in place.
        self._retired: tuple[tuple[SigningKey, float], ...] = ()
        log.info("signing_key_loaded", kid=self._current.kid, alg=self._current.alg)

    @property
    def files(self) -> list[WatchedFile[SigningKey]]:
        return [self._key_file, *self._published]

    @property
    def current_kid(self) -> str:
        return self._current.kid

    def poll(self) -> None:
        """Pick up a changed key file (on the watcher thread)."""
        for published in self._published:
            published.refresh()
        if not self._key_file.refresh() or self._key_file.value.kid == self._current.kid:
            return
        now = self._clock()
        previous = self._current
        kept = tuple((key, at) for key, at in self._retired if self._still_published(at, now))
        self._retired = (*kept, (previous, now))[-MAX_RETIRED_KEYS:]
        self._current = self._key_file.value
        log.info("signing_key_rotated", kid=self._current.kid, previous_kid=previous.kid)

    def mint(
        self,
        subject: str,
        audience: str | Sequence[str],
        ttl_seconds: int | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed JWT for ``subject``; ChaperoneError(token_mint_failed) when the request is unfit."""
        ttl = self._default_ttl if ttl_seconds is None else ttl_seconds
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= self._max_ttl:
            raise _failed(f"ttl_seconds must be an integer from 1 to {self._max_ttl}")
        if not isinstance(subject, str) or not subject:
            raise _failed("the subject must be a non-empty string")
        aud = _audience(audience)
        extra = dict(claims or {})
        reserved = sorted(RESERVED_CLAIMS.intersection(extra))
        if reserved:
            raise _failed(f"claim {reserved[0]!r} is set by Chaperone")
        key = self._current
        issued = int(self._clock())
        payload = {
            **extra,
            "iss": self._issuer,
            "sub": subject,
            "aud": aud,
            "iat": issued,
            "exp": issued + ttl,
            "jti": secrets.token_urlsafe(JTI_BYTES),
        }
        try:
            return jwt.encode(
                payload, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT"}
            )
        except (TypeError, ValueError):
            raise _failed("the claims are not JSON values") from None

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify tokens: the current one, recently retired ones, published ones."""
        now = self._clock()
        keys = [
            self._current,
            *(key for key, at in reversed(self._retired) if self._still_published(at, now)),
        ]
        keys += [published.value for published in self._published]
        unique = {key.kid: key.public_jwk for key in keys}
        return {"keys": [dict(jwk) for jwk in unique.values()]}

    def _still_published(self, retired_at: float, now: float) -> bool:
        return now - retired_at < self._max_ttl + ROTATION_GRACE_SECONDS


def _audience(audience: str | Sequence[str]) -> str | list[str]:
    if isinstance(audience, str) and audience:
        return audience
    if not isinstance(audience, str) and audience and all(isinstance(a, str) and a for a in audience):
        return list(audience)
    raise _failed("the audience must be a non-empty string or list of non-empty strings")


def _failed(message: str) -> ChaperoneError:
    return ChaperoneError(ErrorCode.TOKEN_MINT_FAILED, message, http_status=500)
