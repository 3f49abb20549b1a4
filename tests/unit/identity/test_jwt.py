"""JWT agents: signatures (RS256, ES256, EdDSA, HS256), claims, refused algorithms, the cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from ext_proc.identity.identifier import Identifier
from ext_proc.identity.jwks import parse_jwks
from ext_proc.identity.model import AuthMethod, IdentityError
from tests.jwt_keys import (
    HS_SECRET,
    ISSUER,
    claims,
    ec_key,
    ed25519_key,
    jwks,
    public_jwk,
    public_pem,
    rsa_key,
    token,
    write,
)
from tests.unit.identity.conftest import Clock, bearer, jwt_section


@pytest.fixture(scope="module")
def keys() -> SimpleNamespace:
    return SimpleNamespace(rsa=rsa_key(), ec=ec_key(), ed=ed25519_key(), other_rsa=rsa_key())


@pytest.fixture
def jwks_file(tmp_path: Path, keys: SimpleNamespace) -> Path:
    return write(
        tmp_path / "jwks.json",
        jwks(
            public_jwk(keys.rsa, "rsa-1"),
            public_jwk(keys.ec, "ec-1", "ES256"),
            public_jwk(keys.ed, "ed-1"),
        ),
    )


@pytest.fixture
def identifier(make_identifier: Callable[..., Identifier], jwks_file: Path) -> Identifier:
    algorithms = ["RS256", "ES256", "EdDSA"]
    return make_identifier(jwt_section(jwks_file=str(jwks_file), algorithms=algorithms))


@pytest.fixture
def hs_identifier(make_identifier: Callable[..., Identifier], jwks_file: Path, tmp_path: Path) -> Identifier:
    secret = write(tmp_path / "hs256.secret", HS_SECRET + b"\n")
    section = jwt_section(
        jwks_file=str(jwks_file), hs256_secret_file=str(secret), algorithms=["RS256", "HS256"]
    )
    return make_identifier(section)


async def error_of(identifier: Identifier, tok: str) -> IdentityError | None:
    identity = await identifier.identify(bearer(tok))
    assert not identity.authenticated or identity.error is None
    return identity.error


@pytest.mark.parametrize(
    ("key_name", "alg", "kid"), [("rsa", "RS256", "rsa-1"), ("ec", "ES256", "ec-1"), ("ed", "EdDSA", "ed-1")]
)
async def test_a_signed_token_names_the_agent(
    identifier: Identifier, keys: SimpleNamespace, key_name: str, alg: str, kid: str
) -> None:
    payload = claims(sub="support-bot", team="payments")
    identity = await identifier.identify(bearer(token(getattr(keys, key_name), alg, kid, payload)))
    assert identity.authenticated and identity.error is None
    assert identity.agent_id == "support-bot"
    assert identity.method is AuthMethod.JWT
    assert identity.claims == payload
    assert identity.expires_at == payload["exp"]
    assert identity.credential_headers == ("authorization",), "the caller strips the agent's token"
    document = identity.as_input()
    assert document["claims"]["team"] == "payments"
    assert all(not isinstance(v, str) or "." not in v or v == ISSUER for v in document.values()), (
        "no raw token"
    )


async def test_hs256_with_the_secret_file(hs_identifier: Identifier) -> None:
    identity = await hs_identifier.identify(bearer(token(HS_SECRET, "HS256", None)))
    assert identity.authenticated and identity.agent_id == "support-bot"
    assert await error_of(hs_identifier, token(b"another-secret-of-at-least-32-bytes!!", "HS256", None)) == (
        IdentityError.JWT_BAD_SIGNATURE
    )


async def test_the_agent_id_comes_from_the_configured_claim(
    make_identifier: Callable[..., Identifier], jwks_file: Path, keys: SimpleNamespace
) -> None:
    identifier = make_identifier(jwt_section(jwks_file=str(jwks_file), agent_claim="agent"))
    identity = await identifier.identify(
        bearer(token(keys.rsa, "RS256", "rsa-1", claims(agent="billing-agent")))
    )
    assert identity.agent_id == "billing-agent"
    assert await error_of(identifier, token(keys.rsa, "RS256", "rsa-1")) == IdentityError.JWT_MISSING_CLAIM


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"exp": -100}, IdentityError.JWT_EXPIRED),
        ({"nbf": 100}, IdentityError.JWT_NOT_YET_VALID),
        ({"iat": 100}, IdentityError.JWT_NOT_YET_VALID),
        ({"aud": "someone-else"}, IdentityError.JWT_WRONG_AUDIENCE),
        ({"aud": ["a", "b"]}, IdentityError.JWT_WRONG_AUDIENCE),
        ({"iss": "https://evil.example.com"}, IdentityError.JWT_WRONG_ISSUER),
        ({"exp": None}, IdentityError.JWT_MISSING_CLAIM),
        ({"aud": None}, IdentityError.JWT_MISSING_CLAIM),
        ({"iss": None}, IdentityError.JWT_MISSING_CLAIM),
        ({"sub": None}, IdentityError.JWT_MISSING_CLAIM),
        ({"sub": 42}, IdentityError.JWT_MISSING_CLAIM),
        ({"sub": "has a space"}, IdentityError.AGENT_ID_INVALID),
        ({"exp": "tomorrow"}, IdentityError.JWT_MALFORMED),
    ],
)
async def test_claims_that_refuse_a_token(
    identifier: Identifier, keys: SimpleNamespace, change: dict[str, Any], code: IdentityError
) -> None:
    payload = claims()
    for name, value in change.items():
        if value is None:
            del payload[name]
        elif name in ("exp", "nbf", "iat") and isinstance(value, int):
            payload[name] = payload["iat"] + value
        else:
            payload[name] = value
    assert await error_of(identifier, token(keys.rsa, "RS256", "rsa-1", payload)) == code


async def test_leeway_accepts_a_token_just_expired(
    make_identifier: Callable[..., Identifier], jwks_file: Path, keys: SimpleNamespace
) -> None:
    payload = claims()
    payload["exp"] = payload["iat"] - 10
    tok = token(keys.rsa, "RS256", "rsa-1", payload)
    assert await error_of(make_identifier(jwt_section(jwks_file=str(jwks_file))), tok) is None
    strict = make_identifier(jwt_section(jwks_file=str(jwks_file), leeway_seconds=0))
    assert await error_of(strict, tok) == IdentityError.JWT_EXPIRED


async def test_a_bad_signature_is_refused(identifier: Identifier, keys: SimpleNamespace) -> None:
    forged = token(keys.other_rsa, "RS256", "rsa-1")
    assert await error_of(identifier, forged) == IdentityError.JWT_BAD_SIGNATURE
    header, _, signature = token(keys.rsa, "RS256", "rsa-1").split(".")
    other_payload = token(keys.rsa, "RS256", "rsa-1", claims(sub="admin-bot")).split(".")[1]
    spliced = f"{header}.{other_payload}.{signature}"
    assert await error_of(identifier, spliced) == IdentityError.JWT_BAD_SIGNATURE
    # A signature error is reported before anything about the (unverified) claims.
    expired = claims()
    expired["exp"] = expired["iat"] - 1000
    assert await error_of(identifier, token(keys.other_rsa, "RS256", "rsa-1", expired)) == (
        IdentityError.JWT_BAD_SIGNATURE
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    return head + "." + _b64(signature)


def _hs256_with(secret: bytes, kid: str | None) -> str:
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims(sub="admin-bot")).encode())
    return head + "." + _b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


async def test_alg_none_is_refused(identifier: Identifier, hs_identifier: Identifier) -> None:
    for header in (
        {"alg": "none"},
        {"alg": "none", "kid": "rsa-1"},
        {"alg": "None"},
        {"alg": ""},
        {"typ": "JWT"},
    ):
        tok = _unsigned(header, claims())
        assert await error_of(identifier, tok) == IdentityError.JWT_ALGORITHM_NOT_ALLOWED
        assert await error_of(hs_identifier, tok) == IdentityError.JWT_ALGORITHM_NOT_ALLOWED
    assert await error_of(identifier, jwt.encode(claims(), None, algorithm="none")) == (
        IdentityError.JWT_ALGORITHM_NOT_ALLOWED
    )


async def test_algorithms_off_the_list_are_refused(
    make_identifier: Callable[..., Identifier], jwks_file: Path, keys: SimpleNamespace
) -> None:
    only_es256 = make_identifier(jwt_section(jwks_file=str(jwks_file), algorithms=["ES256"]))
    assert (
        await error_of(only_es256, token(keys.rsa, "RS256", "rsa-1"))
        == IdentityError.JWT_ALGORITHM_NOT_ALLOWED
    )
    assert (
        await error_of(only_es256, token(keys.rsa, "RS384", "rsa-1"))
        == IdentityError.JWT_ALGORITHM_NOT_ALLOWED
    )


async def test_algorithm_confusion_is_refused(
    identifier: Identifier, hs_identifier: Identifier, keys: SimpleNamespace, jwks_file: Path
) -> None:
    """An HS256 token "signed" with the RSA public key (PEM or JWK) as the HMAC secret."""
    pem = public_pem(keys.rsa)
    jwk_json = json.dumps(public_jwk(keys.rsa, "rsa-1")).encode()
    for secret in (pem, jwk_json, jwks_file.read_bytes()):
        for kid in ("rsa-1", None):
            forged = _hs256_with(secret, kid)
            # HS256 not on the list: refused before any key is looked at.
            assert await error_of(identifier, forged) == IdentityError.JWT_ALGORITHM_NOT_ALLOWED
            # HS256 allowed: only the configured secret verifies it, never a key of the set.
            assert await error_of(hs_identifier, forged) == IdentityError.JWT_BAD_SIGNATURE
    # An EC algorithm on the RSA key's kid (and the reverse) does not fit that key.
    es_on_rsa = token(keys.ec, "ES256", "rsa-1")
    assert await error_of(identifier, es_on_rsa) == IdentityError.JWT_ALGORITHM_NOT_ALLOWED
    rs_on_ec = token(keys.rsa, "RS256", "ec-1")
    assert await error_of(identifier, rs_on_ec) == IdentityError.JWT_ALGORITHM_NOT_ALLOWED


async def test_kid_rules(identifier: Identifier, keys: SimpleNamespace) -> None:
    assert await error_of(identifier, token(keys.rsa, "RS256", "nobody")) == IdentityError.JWT_UNKNOWN_KID
    # Without a kid, the one key of the set that fits the algorithm verifies it.
    assert await error_of(identifier, token(keys.rsa, "RS256", None)) is None
    assert await error_of(identifier, _unsigned({"alg": "RS256", "kid": 7}, claims())) == (
        IdentityError.JWT_MALFORMED
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "a.b.c",
        "...",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "eyJhbGciOiJSUzI1NiJ9.!!!!.c2ln",
        _b64(b"[1,2]") + ".e30.c2ln",
        _b64(b'{"alg":"RS256","crit":["exp"]}') + ".e30.c2ln",
        _b64(b'{"alg":"RS256"}') + "." + _b64(b"[]") + ".c2ln",
        _b64(b'{"alg":"RS256"}') + "." + _b64(b"\xff\xfe") + ".c2ln",
    ],
)
async def test_garbage_tokens_are_malformed_or_unverifiable(identifier: Identifier, garbage: str) -> None:
    assert await error_of(identifier, garbage) in (
        IdentityError.CREDENTIAL_MALFORMED,  # not even a bearer token (RFC 6750 b64token)
        IdentityError.JWT_MALFORMED,
        IdentityError.JWT_BAD_SIGNATURE,
        IdentityError.JWT_ALGORITHM_NOT_ALLOWED,
    )


async def test_a_verified_token_is_not_verified_again(identifier: Identifier, keys: SimpleNamespace) -> None:
    assert identifier.jwt is not None
    tok = token(keys.ec, "ES256", "ec-1")
    first = await identifier.identify(bearer(tok))
    second = await identifier.identify(bearer(tok))
    assert first.authenticated and second.authenticated
    assert identifier.jwt.signature_checks == 1
    assert identifier.jwt.cache.hits == 1
    await identifier.identify(bearer(token(keys.ec, "ES256", "ec-1", claims(sub="other-bot"))))
    assert identifier.jwt.signature_checks == 2, "another token is verified on its own"


async def test_the_cache_forgets_a_token_when_it_expires(
    identifier: Identifier, keys: SimpleNamespace, clock: Clock
) -> None:
    assert identifier.jwt is not None
    payload = claims(lifetime=60)
    tok = token(keys.ed, "EdDSA", "ed-1", payload)
    assert (await identifier.identify(bearer(tok))).authenticated
    clock.now = payload["exp"] + 29  # within the 30 s leeway
    assert (await identifier.identify(bearer(tok))).authenticated
    assert identifier.jwt.signature_checks == 1
    clock.now = payload["exp"] + 31
    assert (await identifier.identify(bearer(tok))).error == IdentityError.JWT_EXPIRED


async def test_the_cache_forgets_tokens_when_the_keys_change(
    identifier: Identifier, keys: SimpleNamespace, jwks_file: Path
) -> None:
    assert identifier.jwt is not None
    tok = token(keys.rsa, "RS256", "rsa-1")
    assert (await identifier.identify(bearer(tok))).authenticated
    # The provider withdraws rsa-1 (say it leaked): a cached token must not outlive it.
    replacement = jwks_file.with_name("jwks.new")
    write(replacement, jwks(public_jwk(keys.ec, "ec-1", "ES256")))
    os.replace(replacement, jwks_file)
    identifier.poll()
    assert (await identifier.identify(bearer(tok))).error == IdentityError.JWT_UNKNOWN_KID
    assert identifier.jwt.signature_checks == 1


async def test_the_cache_is_bounded_and_keyed_by_digest(
    make_identifier: Callable[..., Identifier], jwks_file: Path, keys: SimpleNamespace
) -> None:
    identifier = make_identifier(jwt_section(jwks_file=str(jwks_file), cache_size=2))
    assert identifier.jwt is not None
    tokens = [token(keys.ed, "EdDSA", "ed-1", claims(sub=f"bot-{i}")) for i in range(3)]
    for tok in tokens:
        await identifier.identify(bearer(tok))
    assert len(identifier.jwt.cache) == 2
    stored = list(identifier.jwt.cache._entries)
    assert all(len(key) == 32 for key in stored), "SHA-256 digests"
    assert not any(tok.encode() in key or key in tok.encode() for tok in tokens for key in stored)
    await identifier.identify(bearer(tokens[0]))  # evicted first: verified again
    assert identifier.jwt.signature_checks == 4


async def test_a_broken_jwks_file_keeps_the_last_good_keys(
    identifier: Identifier, keys: SimpleNamespace, jwks_file: Path
) -> None:
    write(jwks_file, b'{"keys": [')
    identifier.poll()
    assert (await identifier.identify(bearer(token(keys.rsa, "RS256", "rsa-1")))).authenticated


def test_jwks_entries_that_cannot_verify_are_skipped(tmp_path: Path, keys: SimpleNamespace) -> None:
    private = public_jwk(keys.rsa, "leaked")
    private["d"] = "AQAB"
    entries = [
        {"kty": "oct", "k": _b64(HS_SECRET), "kid": "sym"},
        private,
        {**public_jwk(keys.ec, "enc"), "use": "enc"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB"},
        "not an object",
        public_jwk(keys.ed, "ok"),
    ]
    keyset = parse_jwks(json.dumps({"keys": entries}).encode(), "test")
    assert [k.kid for k in keyset.keys] == ["ok"]
