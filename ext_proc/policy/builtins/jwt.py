"""The ``io.jwt`` builtins with OPA's semantics (topdown/tokens.go), as regorus extensions.

Decoding and key errors raise (the evaluation fails); a signature or a claim that does not check
out is an answer: ``false``, or ``[false, {}, {}]`` from ``io.jwt.decode_verify``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ext_proc.policy.builtins import jws
from ext_proc.policy.builtins.encoding import (
    BuiltinError,
    base64url_decode,
    base64url_encode_raw,
    go_json_dumps,
    go_string,
    json_loads,
    json_object,
    require_object,
    require_string,
)
from ext_proc.policy.builtins.jwt_keys import (
    TOKEN_ALGORITHMS,
    VerificationKey,
    jwk_key,
    keys_from_cert_or_jwk,
)

UNVERIFIED: list[Any] = [False, {}, {}]


@dataclass(frozen=True, slots=True)
class Token:
    header: str
    payload: str
    signature: str

    @property
    def signed(self) -> bytes:
        return f"{self.header}.{self.payload}".encode()


def split_token(value: Any) -> Token:
    text = require_string(value, 1, "io.jwt")
    if "." not in text:
        raise BuiltinError("encoded JWT had no period separators")
    parts = text.split(".")
    if len(parts) != 3:
        raise BuiltinError(f"encoded JWT must have 3 sections, found {len(parts)}")
    return Token(*parts)


def decode_header(token: Token) -> dict[str, Any]:
    try:
        raw = base64url_decode(token.header)
    except BuiltinError as exc:
        raise BuiltinError(f"JWT header had invalid encoding: {exc}") from None
    try:
        header = json_object(go_string(raw))
    except BuiltinError as exc:
        raise BuiltinError(f"bad JWT header: {exc}") from None
    if "enc" in header:
        raise BuiltinError("JWT is a JWE object, which is not supported")
    return header


def decode_payload(token: Token) -> str:
    try:
        return go_string(base64url_decode(token.payload))
    except BuiltinError as exc:
        raise BuiltinError(f"JWT payload had invalid encoding: {exc}") from None


def decode_signature(token: Token) -> bytes:
    return base64url_decode(token.signature)


def jwt_decode(value: Any) -> list[Any]:
    token = split_token(value)
    header = decode_header(token)
    payload = decode_payload(token)
    if header.get("cty") == "JWT":
        # A nested token: its payload is another JWT, possibly quoted.
        return jwt_decode(payload.strip("\"'"))
    claims = json_object(payload)
    try:
        signature = base64url_decode(token.signature)
    except BuiltinError as exc:
        raise BuiltinError(f"JWT signature had invalid encoding: {exc}") from None
    return [header, claims, signature.hex()]


# -- io.jwt.verify_* ----------------------------------------------------------------------------


def _verify_with_keys(value: Any, keys_text: Any, check: Callable[[Any, bytes, bytes], bool]) -> bool:
    token = split_token(value)
    keys = keys_from_cert_or_jwk(require_string(keys_text, 2, "io.jwt.verify"))
    signature = decode_signature(token)
    header = _parse_header(decode_header(token))
    message = token.signed
    if header.kid:
        for key in keys:
            if key.kid == header.kid:
                return check(key.key, message, signature)
    for key in keys:
        if key.alg and key.alg != header.alg:
            continue
        if check(key.key, message, signature):
            return True
    return False


def _rsa(bits: str, pss: bool) -> Callable[[Any, Any], bool]:
    def verify(value: Any, keys: Any) -> bool:
        return _verify_with_keys(value, keys, lambda k, m, s: jws.verify_rsa(k, bits, pss, m, s))

    return verify


def _ecdsa(bits: str) -> Callable[[Any, Any], bool]:
    def verify(value: Any, keys: Any) -> bool:
        return _verify_with_keys(
            value, keys, lambda k, m, s: jws.verify_ecdsa(k, bits, m, s, strict_size=False)
        )

    return verify


def verify_eddsa(value: Any, keys: Any) -> bool:
    return _verify_with_keys(value, keys, jws.verify_eddsa)


def _hmac(bits: str) -> Callable[[Any, Any], bool]:
    def verify(value: Any, secret: Any) -> bool:
        require_string(value, 1, f"io.jwt.verify_hs{bits}")
        key = require_string(secret, 2, f"io.jwt.verify_hs{bits}").encode()
        token = split_token(value)
        return jws.verify_hmac(key, bits, token.signed, decode_signature(token))

    return verify


# -- io.jwt.decode_verify -----------------------------------------------------------------------


@dataclass(slots=True)
class _Header:
    alg: str = ""
    kid: str = ""
    cty: str = ""
    crit: set[str] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)

    def valid(self) -> bool:
        # RFC 7515 4.1.1: alg is required; 4.1.11: an unknown critical parameter makes it invalid.
        return bool(self.alg) and not any(name in self.crit for name in self.unknown)


def _parse_header(header: dict[str, Any]) -> _Header:
    parsed = _Header()
    for name, value in header.items():
        if name in ("alg", "kid", "typ", "cty"):
            if not isinstance(value, str):
                raise BuiltinError(f"{name}: must be a string")
            if name != "typ":
                setattr(parsed, name, value)
        elif name == "crit":
            if not isinstance(value, list):
                raise BuiltinError("crit: must be a list")
            parsed.crit = {v for v in value if isinstance(v, str)}
            if not parsed.crit:
                raise BuiltinError("crit: must be a nonempty list")
        else:
            parsed.unknown.append(name)
    return parsed


@dataclass(slots=True)
class _Constraints:
    secret: str = ""
    alg: str = ""
    iss: str = ""
    aud: str = ""
    keys: list[VerificationKey] | None = None
    time: float = -1.0


def _time_value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BuiltinError("token time constraint: must be a number")
    if value < 0:
        raise BuiltinError("token time constraint: must not be negative")
    return float(value)


def _constraints(given: dict[Any, Any]) -> _Constraints:
    constraints = _Constraints()
    for name, value in given.items():
        if name == "cert":
            if not isinstance(value, str):
                raise BuiltinError("cert constraint: must be a string")
            constraints.keys = keys_from_cert_or_jwk(value)
        elif name in ("secret", "alg", "iss", "aud"):
            if not isinstance(value, str):
                raise BuiltinError(f"{name} constraint: must be a string")
            setattr(constraints, name, value)
        elif name == "time":
            constraints.time = _time_value(value)
        else:
            raise BuiltinError(f"unknown token validation constraint: {name}")
    if constraints.time == -1.0:
        constraints.time = float(time.time_ns())
    key_constraints = (constraints.keys is not None) + bool(constraints.secret)
    if key_constraints > 1:
        raise BuiltinError("duplicate key constraints")
    if key_constraints < 1:
        raise BuiltinError("no key constraint")
    return constraints


def _signature_ok(constraints: _Constraints, header: _Header, message: bytes, signature: bytes) -> bool:
    if constraints.keys is not None:
        if header.kid:
            for key in constraints.keys:
                if key.kid == header.kid:
                    return jws.verify(key.key, header.alg, message, signature)
        return any(
            jws.verify(key.key, header.alg, message, signature)
            for key in constraints.keys
            if not key.alg or key.alg == header.alg
        )
    return jws.verify(constraints.secret.encode(), header.alg, message, signature)


def _audience_ok(aud: Any, wanted: str) -> bool:
    if isinstance(aud, str):
        return aud == wanted
    if isinstance(aud, list):
        return any(isinstance(a, str) and a == wanted for a in aud)
    return False


def _claims_ok(claims: dict[str, Any], constraints: _Constraints) -> bool:
    if constraints.iss and claims.get("iss") != constraints.iss:
        return False
    if "aud" in claims:
        if not _audience_ok(claims["aud"], constraints.aud):
            return False
    elif constraints.aud:
        return False
    now = constraints.time / 1_000_000_000
    expires, not_before = _time_claim(claims, "exp"), _time_claim(claims, "nbf")
    if expires is not None and now >= expires:
        return False
    return not_before is None or now >= not_before


def _time_claim(claims: dict[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BuiltinError(f"{name} value must be a number")
    return float(value)


def decode_verify(value: Any, given: Any) -> list[Any]:
    constraints = _constraints(require_object(given, 2, "io.jwt.decode_verify"))
    current = value
    while True:
        token = split_token(current)
        raw_header = decode_header(token)
        header = _parse_header(raw_header)
        if not header.valid():
            return UNVERIFIED
        if constraints.alg and constraints.alg != header.alg:
            return UNVERIFIED
        signature = decode_signature(token)
        if not _signature_ok(constraints, header, token.signed, signature):
            return UNVERIFIED
        payload = decode_payload(token)
        if header.cty.lower() == "jwt":
            current = payload  # a nested token: verify it too
            continue
        break
    claims = json_object(payload)
    if not _claims_ok(claims, constraints):
        return UNVERIFIED
    return [True, raw_header, claims]


# -- io.jwt.encode_sign -------------------------------------------------------------------------


def _encode(headers: bytes, payload: bytes, key_text: str) -> str:
    document = json_loads(key_text) if key_text.strip() else None
    entries = document.get("keys") if isinstance(document, dict) and "keys" in document else [document]
    if not isinstance(entries, list) or not entries:
        raise BuiltinError("no keys found in JWK set")
    key = jwk_key(entries[0])
    header = json_loads(go_string(headers))
    alg = header.get("alg") if isinstance(header, dict) else None
    if not isinstance(alg, str):
        raise BuiltinError("missing or invalid 'alg' header")
    if alg not in TOKEN_ALGORITHMS:
        raise BuiltinError(f"unknown JWS algorithm: {alg}")
    typ = header.get("typ")
    if (not isinstance(typ, str) or typ == "JWT") and not _valid_json(payload):
        raise BuiltinError("type is JWT but payload is not JSON")
    signed = f"{base64url_encode_raw(headers)}.{base64url_encode_raw(payload)}"
    return f"{signed}.{base64url_encode_raw(jws.sign(key, alg, signed.encode()))}"


def _valid_json(data: bytes) -> bool:
    try:
        json_loads(go_string(data))
    except BuiltinError:
        return False
    return True


def encode_sign(headers: Any, payload: Any, key: Any) -> str:
    return _encode(go_json_dumps(headers), go_json_dumps(payload), go_json_dumps(key).decode())


def encode_sign_raw(headers: Any, payload: Any, key: Any) -> str:
    name = "io.jwt.encode_sign_raw"
    key_text = require_string(key, 3, name)
    return _encode(
        require_string(headers, 1, name).encode(), require_string(payload, 2, name).encode(), key_text
    )


EXTENSIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "io.jwt.decode": (1, jwt_decode),
    "io.jwt.decode_verify": (2, decode_verify),
    "io.jwt.encode_sign": (3, encode_sign),
    "io.jwt.encode_sign_raw": (3, encode_sign_raw),
    "io.jwt.verify_eddsa": (2, verify_eddsa),
    **{f"io.jwt.verify_rs{bits}": (2, _rsa(bits, pss=False)) for bits in ("256", "384", "512")},
    **{f"io.jwt.verify_ps{bits}": (2, _rsa(bits, pss=True)) for bits in ("256", "384", "512")},
    **{f"io.jwt.verify_es{bits}": (2, _ecdsa(bits)) for bits in ("256", "384", "512")},
    **{f"io.jwt.verify_hs{bits}": (2, _hmac(bits)) for bits in ("256", "384", "512")},
}
