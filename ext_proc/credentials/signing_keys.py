"""Signing keys for minted tokens: PEM files, their algorithm, their JWK and its thumbprint.

The algorithm follows from the key: Ed25519 signs EdDSA (RFC 8037), EC P-256 signs ES256, RSA of
2048 bits or more signs RS256 (RFC 7518 §3.3 requires at least 2048). The key id is the key's
JWK thumbprint (RFC 7638): the same key always gets the same ``kid``, and a new key a new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ext_proc.watch import FileLoadError

MAX_KEY_FILE_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
# RFC 7638 §3.2: the required members of each key type, the only ones hashed.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]  # as published: kty and key members, kid, alg, use
    private_key: Any = field(default=None, repr=False)  # None: published only, never signs


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, lexicographic order, no whitespace; base64url."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def load_signing_key(data: bytes, path: Path) -> SigningKey:
    """A PEM private key that can sign; FileLoadError names the file and the problem."""
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise FileLoadError(f"{path}: not an unencrypted PEM private key") from None
    public = _public_jwk(private_key.public_key(), path)
    return SigningKey(public["kid"], public["alg"], public, private_key)


def load_published_key(data: bytes, path: Path) -> SigningKey:
    """A PEM public key (or a private key, of which only the public part is kept)."""
    try:
        public_key: Any = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            public_key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise FileLoadError(f"{path}: not a PEM public key or unencrypted private key") from None
    public = _public_jwk(public_key, path)
    return SigningKey(public["kid"], public["alg"], public)


def _public_jwk(public_key: Any, path: Path) -> dict[str, Any]:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        alg, jwk = "EdDSA", OKPAlgorithm.to_jwk(public_key, as_dict=True)
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        alg, jwk = "ES256", ECAlgorithm.to_jwk(public_key, as_dict=True)
    elif isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= MIN_RSA_BITS:
        alg, jwk = "RS256", RSAAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        raise FileLoadError(f"{path}: expected an Ed25519, EC P-256 or RSA (2048 bits or more) key")
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    return {**members, "kid": jwk_thumbprint(members), "alg": alg, "use": "sig"}
