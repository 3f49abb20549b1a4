"""Verification keys for the ``io.jwt`` builtins: a PEM certificate, a PEM public key, or JWK(S).

As OPA (topdown/tokens.go): a PEM block is tried first, and must be the only thing in the string;
otherwise the string must be one JWK or a JWK set. Keys of a set whose ``alg`` OPA does not
support are skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from ext_proc.policy.builtins.encoding import BuiltinError

TOKEN_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "HS256",
        "HS384",
        "HS512",
        "EdDSA",
    }
)

# Every algorithm name of JWA (RFC 7518) and RFC 8037/8812: a JWK whose "alg" is none of these
# does not parse (in OPA's JWK library); one that is known but not for signatures is skipped.
JWA_ALGORITHMS = TOKEN_ALGORITHMS | {
    "none", "ES256K", "RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512",
    "A128KW", "A192KW", "A256KW", "dir", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW",
    "ECDH-ES+A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW", "PBES2-HS256+A128KW",
    "PBES2-HS384+A192KW", "PBES2-HS512+A256KW", "A128CBC-HS256", "A192CBC-HS384",
    "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM",
}  # fmt: skip

# Go's pem.Decode: a BEGIN line at the start of the data or of a line, the base64 body, the
# matching END line; what follows the END line's line break is the rest.
_PEM_BLOCK = re.compile(
    rb"(?:^|\n)-----BEGIN ([^\n]*?)-----[ \t\r]*\n(.*?)(?:^|\n)-----END \1-----[ \t\r]*(?:\n|$)", re.S
)


@dataclass(frozen=True, slots=True)
class VerificationKey:
    key: Any  # a cryptography public key, or bytes for a JWK "oct" key
    alg: str = ""
    kid: str = ""


def pem_block(text: str) -> tuple[str, bytes, bytes] | None:
    """The first PEM block (type, DER bytes) and the rest, or None when there is none."""
    data = text.encode("utf-8", errors="surrogatepass")
    match = _PEM_BLOCK.search(data)
    if match is None:
        return None
    body = b"".join(line for line in match.group(2).split(b"\n") if b":" not in line)
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return match.group(1).decode("utf-8", "replace"), der, data[match.end() :]


def keys_from_cert_or_jwk(text: str) -> list[VerificationKey]:
    block = pem_block(text)
    if block is not None:
        kind, der, rest = block
        if rest:
            raise BuiltinError("extra data after a PEM certificate block")
        if kind == "CERTIFICATE":
            try:
                return [VerificationKey(x509.load_der_x509_certificate(der).public_key())]
            except ValueError as exc:
                raise BuiltinError(f"failed to parse a PEM certificate: {exc}") from None
        if kind == "PUBLIC KEY":
            try:
                return [VerificationKey(serialization.load_der_public_key(der))]
            except (ValueError, TypeError) as exc:
                raise BuiltinError(f"failed to parse a PEM public key: {exc}") from None
        raise BuiltinError("failed to extract a Key from the PEM certificate")
    return _jwk_keys(text)


def _jwk_keys(text: str) -> list[VerificationKey]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise BuiltinError("failed to parse a JWK key (set)") from None
    if not isinstance(document, dict):
        raise BuiltinError("failed to parse a JWK key (set)")
    entries = document.get("keys") if "keys" in document else [document]
    if not isinstance(entries, list):
        raise BuiltinError("failed to parse a JWK key (set)")
    keys = []
    for entry in entries:
        alg = entry.get("alg", "") if isinstance(entry, dict) else ""
        if alg and alg not in JWA_ALGORITHMS:
            raise BuiltinError("failed to parse a JWK key (set): invalid key algorithm")
        if alg and alg not in TOKEN_ALGORITHMS:
            continue
        kid = entry.get("kid", "") if isinstance(entry, dict) else ""
        keys.append(VerificationKey(jwk_key(entry), alg if isinstance(alg, str) else "", str(kid)))
    return keys


def jwk_key(entry: Any) -> Any:
    """One JWK as a key object (a private JWK gives its private key), bytes for "oct"."""
    if not isinstance(entry, dict) or "kty" not in entry:
        raise BuiltinError("failed to parse a JWK key (set)")
    if entry["kty"] == "oct":
        secret = entry.get("k")
        if not isinstance(secret, str):
            raise BuiltinError("failed to parse a JWK key (set)")
        padded = secret + "=" * (-len(secret) % 4)
        try:
            return base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):
            raise BuiltinError("failed to parse a JWK key (set)") from None
    try:
        return PyJWK(_without_unsupported_alg(entry)).key
    except (PyJWKError, ValueError, TypeError, KeyError):
        raise BuiltinError("failed to parse a JWK key (set)") from None


def _without_unsupported_alg(entry: dict[str, Any]) -> dict[str, Any]:
    # PyJWK picks its algorithm from "alg"; the key material is what matters here.
    return {k: v for k, v in entry.items() if k != "alg"}
