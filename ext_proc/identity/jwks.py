"""JSON Web Key Sets (RFC 7517) of the identity provider, and which key may verify which token.

A key verifies a token only when the token's ``alg`` (already on the configured allow-list)
belongs to the key's type: RS*/PS* need an RSA key of at least 2048 bits, ES256 an EC P-256 key,
ES384 P-384, EdDSA an OKP key; a key that states its own ``alg`` verifies only that one.
Symmetric (``oct``) keys are never taken from a key set, and HS256 never uses one of these keys:
feeding a public key to HMAC as its secret is the algorithm-confusion attack (RFC 8725 §2.1).
Keys that are not for signatures (``use`` other than ``sig``) or hold private parts are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from ext_proc.watch import FileLoadError

log = structlog.get_logger("chaperone.identity")

MAX_JWKS_BYTES = 1024 * 1024
MAX_KEYS = 100
MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")

# alg -> (kty, crv or None)
_KEY_TYPES: dict[str, tuple[str, str | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "EdDSA": ("OKP", None),
}
_PARSERS = {"RSA": RSAAlgorithm.from_jwk, "EC": ECAlgorithm.from_jwk, "OKP": OKPAlgorithm.from_jwk}
_PUBLIC_TYPES = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)


@dataclass(frozen=True, slots=True)
class VerifyKey:
    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any  # a cryptography public key

    def accepts(self, alg: str) -> bool:
        if self.alg is not None and self.alg != alg:
            return False
        kty, crv = _KEY_TYPES.get(alg, ("", None))
        return kty == self.kty and (crv is None or crv == self.crv)


@dataclass(frozen=True, slots=True, eq=False)
class KeySet:
    """One generation of keys. ``digest`` tells two fetches of the same set apart from a change."""

    keys: tuple[VerifyKey, ...]
    digest: str

    def find(self, kid: str | None, alg: str) -> VerifyKey | None:
        candidates = [k for k in self.keys if k.accepts(alg) and (kid is None or k.kid == kid)]
        # Without a kid, only an unambiguous key is used (RFC 7515 §4.1.4 leaves the choice open).
        return candidates[0] if len(candidates) == 1 else None


def parse_jwks(data: bytes, source: str | Path) -> KeySet:
    """Parse a JWKS document; FileLoadError when it is not one or holds no usable key."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise FileLoadError(f"{source}: not valid JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FileLoadError(f'{source}: expected a JSON Web Key Set ({{"keys": [...]}})')
    keys = tuple(_usable_keys(entries[:MAX_KEYS], source))
    if not keys:
        raise FileLoadError(f"{source}: no usable signature verification key")
    canonical = orjson.dumps(
        [e for e in entries[:MAX_KEYS] if isinstance(e, dict)], option=orjson.OPT_SORT_KEYS
    )
    return KeySet(keys, hashlib.sha256(canonical).hexdigest())


def _usable_keys(entries: list[Any], source: str | Path) -> Iterator[VerifyKey]:
    for index, entry in enumerate(entries):
        problem = _problem(entry)
        key = None if problem else _public_key(entry)
        if key is None:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            log.warning(
                "jwks_key_skipped", source=str(source), index=index, kid=kid, reason=problem or "unreadable"
            )
            continue
        yield VerifyKey(entry.get("kid"), entry["kty"], entry.get("crv"), entry.get("alg"), key)


def _problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    if entry.get("kty") not in _PARSERS:
        return "unsupported key type"
    if any(member in entry for member in _PRIVATE_MEMBERS):
        return "holds private key material"
    if entry.get("use", "sig") != "sig":
        return "not a signature key"
    for member in ("kid", "alg", "crv"):
        if member in entry and not isinstance(entry[member], str):
            return f"{member} is not a string"
    if entry.get("alg") is not None and entry["alg"] not in _KEY_TYPES:
        return "unsupported alg"
    return None


def _public_key(entry: dict[str, Any]) -> Any:
    try:
        key = _PARSERS[entry["kty"]](entry)
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(key, _PUBLIC_TYPES):
        return None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None
    return key
