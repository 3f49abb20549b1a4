"""JWT verification (RFC 7519, with the checks of RFC 8725, JWT best current practices).

Order: the header's ``alg`` must be on the allow-list (``none`` never is); the key is chosen by
the algorithm (the HS256 secret for HS256, a matching key of the key set otherwise, see jwks.py);
PyJWT checks the signature, then ``iss``, ``aud`` and the presence of ``exp``; the times are
checked here, with the configured leeway and the identifier's clock, so the verified-token cache
and the verification agree on when a token expires. Nothing about a token's claims is reported
before its signature verified.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import jwt
from jwt.exceptions import InvalidSubjectError
from jwt.types import Options

from ext_proc.identity.config import JwtConfig
from ext_proc.identity.key_sources import KeySource
from ext_proc.identity.model import AuthMethod, IdentityError, Proof, valid_agent_id
from ext_proc.identity.token_cache import CachedToken, TokenCache, token_digest
from ext_proc.watch import FileLoadError, WatchedFile

HMAC_ALGORITHM = "HS256"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_HMAC_SECRET_BYTES = 32
MAX_HMAC_SECRET_BYTES = 4096

# Most specific first: several of these are subclasses of InvalidTokenError.
_ERRORS: tuple[tuple[type[jwt.PyJWTError], IdentityError], ...] = (
    (jwt.ExpiredSignatureError, IdentityError.JWT_EXPIRED),
    (jwt.ImmatureSignatureError, IdentityError.JWT_NOT_YET_VALID),
    (jwt.InvalidAudienceError, IdentityError.JWT_WRONG_AUDIENCE),
    (jwt.InvalidIssuerError, IdentityError.JWT_WRONG_ISSUER),
    (jwt.MissingRequiredClaimError, IdentityError.JWT_MISSING_CLAIM),
    (InvalidSubjectError, IdentityError.JWT_MISSING_CLAIM),
    (jwt.InvalidSignatureError, IdentityError.JWT_BAD_SIGNATURE),
    (jwt.InvalidKeyError, IdentityError.JWT_BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, IdentityError.JWT_ALGORITHM_NOT_ALLOWED),
)


class HmacSecret:
    """The HS256 secret; its repr never shows the bytes."""

    __slots__ = ("secret",)

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "HmacSecret(<hidden>)"


def parse_hmac_secret(data: bytes, path: Any) -> HmacSecret:
    secret = data.strip()
    if len(secret) < MIN_HMAC_SECRET_BYTES:
        raise FileLoadError(f"{path}: an HS256 secret needs at least {MIN_HMAC_SECRET_BYTES} bytes")
    if secret.startswith(b"-----BEGIN"):
        raise FileLoadError(f"{path}: this is a PEM key, not an HS256 secret")
    return HmacSecret(secret)


def _error_for(exc: jwt.PyJWTError) -> IdentityError:
    for kind, code in _ERRORS:
        if isinstance(exc, kind):
            return code
    return IdentityError.JWT_MALFORMED


class JwtVerifier:
    def __init__(
        self,
        config: JwtConfig,
        keys: KeySource | None,
        secret: WatchedFile[HmacSecret] | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._secret = secret
        self._clock = clock
        self._algorithms = frozenset(config.algorithms)
        self._issuer = config.issuer
        self._audiences = list(config.audiences)
        self._leeway = config.leeway_seconds
        self._agent_claim = config.agent_claim
        self._options: Options = {
            "require": ["exp", "iss", "aud"],
            "verify_exp": False,  # checked in _check_times, with the identifier's clock
            "verify_nbf": False,
            "verify_iat": False,
            "enforce_minimum_key_length": True,
        }
        self.cache = TokenCache(config.cache_size)
        # Every signature verification attempted (cache hits do none).
        self.signature_checks = 0

    async def verify(self, token: str) -> Proof | IdentityError:
        now = self._clock()
        digest = token_digest(token)
        proof = self.cache.get(digest, now, self._current_material())
        if proof is not None:
            return proof
        return await self._verify(token, digest, now)

    def _current_material(self) -> tuple[object, ...]:
        keys = self._keys.current() if self._keys is not None else None
        secret = self._secret.value if self._secret is not None else None
        return (keys, secret)

    async def _verify(self, token: str, digest: bytes, now: float) -> Proof | IdentityError:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return IdentityError.JWT_MALFORMED
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            return IdentityError.JWT_ALGORITHM_NOT_ALLOWED
        selected = await self._select_key(alg, header.get("kid"))
        if isinstance(selected, IdentityError):
            return selected
        key, material = selected
        self.signature_checks += 1
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audiences,
                issuer=self._issuer,
                options=self._options,
            )
        except jwt.PyJWTError as exc:
            return _error_for(exc)
        return self._accept(claims, digest, now, material)

    async def _select_key(self, alg: str, kid: Any) -> tuple[Any, object] | IdentityError:
        if alg == HMAC_ALGORITHM:
            assert self._secret is not None, "HS256 is only allowed with a secret (checked at load)"
            secret = self._secret.value
            return secret.secret, secret
        assert self._keys is not None, "asymmetric algorithms need a key set (checked at load)"
        keys = self._keys.current()
        found = keys.find(kid, alg) if keys is not None else None
        if found is None and keys is not None and kid is not None and any(k.kid == kid for k in keys.keys):
            return IdentityError.JWT_ALGORITHM_NOT_ALLOWED  # that key is not for this algorithm
        if found is None and await self._keys.refetch():
            keys = self._keys.current()
            found = keys.find(kid, alg) if keys is not None else None
        if found is None:
            return IdentityError.JWT_KEYS_UNAVAILABLE if keys is None else IdentityError.JWT_UNKNOWN_KID
        return found.key, keys

    def _accept(
        self, claims: dict[str, Any], digest: bytes, now: float, material: object
    ) -> Proof | IdentityError:
        expires = self._check_times(claims, now)
        if isinstance(expires, IdentityError):
            return expires
        agent_id = claims.get(self._agent_claim)
        if agent_id is None:
            return IdentityError.JWT_MISSING_CLAIM
        if not valid_agent_id(agent_id):
            return IdentityError.AGENT_ID_INVALID
        proof = Proof(agent_id, AuthMethod.JWT, claims=claims, expires_at=claims["exp"])
        self.cache.put(digest, CachedToken(proof, expires + self._leeway, material))
        return proof

    def _check_times(self, claims: dict[str, Any], now: float) -> float | IdentityError:
        # RFC 7519 §4.1.4-4.1.6: NumericDate values; a token is refused on or after exp and
        # before nbf, each with the leeway. iat in the future is refused as not yet valid.
        times = {}
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return IdentityError.JWT_MALFORMED
            times[name] = float(value)
        if now >= times["exp"] + self._leeway:
            return IdentityError.JWT_EXPIRED
        if now + self._leeway < max(times.get("nbf", -math.inf), times.get("iat", -math.inf)):
            return IdentityError.JWT_NOT_YET_VALID
        return times["exp"]
