"""JWS signatures by algorithm name: verify and sign, with the key types OPA accepts for each."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from ext_proc.policy.builtins.encoding import BuiltinError

_SHA: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_HASHLIB = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def public_key(key: Any) -> Any:
    """A private key verifies as its public half."""
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key.public_key()
    return key


def verify_rsa(key: Any, bits: str, pss: bool, message: bytes, signature: bytes) -> bool:
    key = public_key(key)
    if not isinstance(key, rsa.RSAPublicKey):
        return False  # "incorrect public key type"
    digest = _HASHLIB[bits](message).digest()
    algorithm = utils.Prehashed(_SHA[bits]())
    pad: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(_SHA[bits]()), salt_length=padding.PSS.AUTO)
        if pss
        else padding.PKCS1v15()
    )
    try:
        key.verify(signature, digest, pad, algorithm)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_ecdsa(key: Any, bits: str, message: bytes, signature: bytes, *, strict_size: bool) -> bool:
    key = public_key(key)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    size = (key.curve.key_size + 7) // 8
    if strict_size and len(signature) != 2 * size:
        return False
    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    if r == 0 or s == 0:
        return False
    digest = _HASHLIB[bits](message).digest()
    try:
        key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(_SHA[bits]())))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_eddsa(key: Any, message: bytes, signature: bytes) -> bool:
    key = public_key(key)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return False
    try:
        key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_hmac(secret: bytes, bits: str, message: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(signature, hmac.new(secret, message, _HASHLIB[bits]).digest())


def verify(key: Any, alg: str, message: bytes, signature: bytes) -> bool:
    """Verify as the JWS library OPA's ``io.jwt.decode_verify`` uses: the key must suit ``alg``."""
    family, bits = alg[:2], alg[2:]
    if alg == "EdDSA":
        return verify_eddsa(key, message, signature)
    if bits not in _SHA:
        return False
    if family == "HS":
        return isinstance(key, bytes) and verify_hmac(key, bits, message, signature)
    if family in ("RS", "PS"):
        return verify_rsa(key, bits, family == "PS", message, signature)
    if family == "ES":
        return verify_ecdsa(key, bits, message, signature, strict_size=True)
    return False


def sign(key: Any, alg: str, message: bytes) -> bytes:
    family, bits = alg[:2], alg[2:]
    if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if family == "HS" and isinstance(key, bytes):
        return hmac.new(key, message, _HASHLIB[bits]).digest()
    if family in ("RS", "PS") and isinstance(key, rsa.RSAPrivateKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(_SHA[bits]()), salt_length=padding.PSS.DIGEST_LENGTH)
            if family == "PS"
            else padding.PKCS1v15()
        )
        return key.sign(message, pad, _SHA[bits]())
    if family == "ES" and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = utils.decode_dss_signature(key.sign(message, ec.ECDSA(_SHA[bits]())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise BuiltinError(f"failed to sign payload using {alg}: the key does not suit the algorithm")
