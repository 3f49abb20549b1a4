"""The builtins Chaperone supplies to regorus (io.jwt.*, crypto.*, net.cidr_*) answer as real OPA.

Each expression is evaluated by the embedded engine, as the service builds it, and by OPA 1.20:
same value, same undefinedness, an error in both. Tokens are signed here with fresh keys of
every kind OPA verifies (HS, RS, PS, ES, EdDSA), and handed over as secrets, PEM certificates,
PEM public keys and JWK sets.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests import jwt_keys
from tests.rego_oracle import LOAD_ERROR, Value, opa_engine, opa_outcome, regorus_engine, regorus_outcome

SECRET = "a-test-secret-long-enough-for-hs512-which-wants-64-bytes-of-key!"


def _certificate_pem(private_key: Any) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(1234)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _input() -> dict[str, Any]:
    rsa, ec, ed = jwt_keys.rsa_key(), jwt_keys.ec_key(), jwt_keys.ed25519_key()
    now = int(time.time())
    claims = {"sub": "agent-1", "iss": "https://idp", "exp": now + 3600, "nbf": now - 60}

    def sign(
        key: Any, alg: str, extra: dict[str, Any] | None = None, headers: dict[str, Any] | None = None
    ) -> str:
        material = key if isinstance(key, str) else jwt_keys.private_pem(key)
        return pyjwt.encode({**claims, **(extra or {})}, material, algorithm=alg, headers=headers)

    tokens = {
        "hs256": sign(SECRET, "HS256"),
        "hs384": sign(SECRET, "HS384"),
        "hs512": sign(SECRET, "HS512", headers={"kid": "h"}),
        "aud": sign(SECRET, "HS256", {"aud": "api"}),
        "aud_list": sign(SECRET, "HS256", {"aud": ["x", "api"]}),
        "expired": sign(SECRET, "HS256", {"exp": now - 10}),
        "early": sign(SECRET, "HS256", {"nbf": now + 3600}),
        "exp_string": sign(SECRET, "HS256", {"exp": "soon"}),
        "rs256": sign(rsa, "RS256", headers={"kid": "r1"}),
        "rs512": sign(rsa, "RS512"),
        "ps256": sign(rsa, "PS256"),
        "es256": sign(ec, "ES256", headers={"kid": "e1"}),
        "ed": sign(ed, "EdDSA"),
        "none": pyjwt.encode(claims, None, algorithm="none"),
        "crit": sign(SECRET, "HS256", headers={"crit": ["exp2"], "exp2": 1}),
        "jwe": "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.e30.c2ln",
        "bad_header": "bm90IGpzb24.e30.c2ln",
        "two_parts": "a.b",
    }
    return {
        "t": tokens,
        "rsa_pem": jwt_keys.public_pem(rsa).decode(),
        "rsa_cert": _certificate_pem(rsa),
        "ec_pem": jwt_keys.public_pem(ec).decode(),
        "ed_pem": jwt_keys.public_pem(ed).decode(),
        "jwks": json.dumps(
            {
                "keys": [
                    jwt_keys.public_jwk(rsa, "r1", "RS256"),
                    jwt_keys.public_jwk(ec, "e1"),
                    jwt_keys.public_jwk(ed, "d1"),
                    {"kty": "oct", "k": "c2VjcmV0", "alg": "A128KW"},
                ]
            }
        ),
        "one_jwk": json.dumps(jwt_keys.public_jwk(rsa, None)),
        "oct": {"kty": "oct", "k": pyjwt.utils.base64url_encode(SECRET.encode()).decode()},
    }


JWT_EXPRESSIONS = [
    *[
        f"io.jwt.decode(input.t.{name})"
        for name in ("hs256", "none", "jwe", "bad_header", "two_parts", "crit")
    ],
    'io.jwt.decode("")',
    'io.jwt.decode("a.b.c")',
    'io.jwt.decode("e30.e30.")',
    'io.jwt.decode("e30.W10.")',
    "io.jwt.verify_hs256(input.t.hs256, input.secret)",
    'io.jwt.verify_hs256(input.t.hs256, "wrong")',
    "io.jwt.verify_hs384(input.t.hs384, input.secret)",
    "io.jwt.verify_hs512(input.t.hs512, input.secret)",
    "io.jwt.verify_hs256(input.t.two_parts, input.secret)",
    "io.jwt.verify_rs256(input.t.rs256, input.rsa_pem)",
    "io.jwt.verify_rs256(input.t.rs256, input.rsa_cert)",
    "io.jwt.verify_rs256(input.t.rs256, input.jwks)",
    "io.jwt.verify_rs256(input.t.rs256, input.one_jwk)",
    "io.jwt.verify_rs256(input.t.rs256, input.ec_pem)",
    "io.jwt.verify_rs512(input.t.rs512, input.rsa_pem)",
    "io.jwt.verify_rs256(input.t.rs512, input.rsa_pem)",
    "io.jwt.verify_ps256(input.t.ps256, input.rsa_cert)",
    "io.jwt.verify_es256(input.t.es256, input.ec_pem)",
    "io.jwt.verify_es256(input.t.es256, input.jwks)",
    "io.jwt.verify_es384(input.t.es256, input.ec_pem)",
    "io.jwt.verify_eddsa(input.t.ed, input.ed_pem)",
    "io.jwt.verify_eddsa(input.t.ed, input.jwks)",
    'io.jwt.verify_rs256(input.t.rs256, "not a key")',
    'io.jwt.verify_rs256(input.t.rs256, concat("", [input.rsa_pem, "\\n\\nextra"]))',
    'io.jwt.decode_verify(input.t.hs256, {"secret": input.secret})',
    'io.jwt.decode_verify(input.t.hs256, {"secret": input.secret, "alg": "HS384"})',
    'io.jwt.decode_verify(input.t.hs256, {"secret": input.secret, "iss": "https://idp"})',
    'io.jwt.decode_verify(input.t.hs256, {"secret": input.secret, "iss": "other"})',
    'io.jwt.decode_verify(input.t.hs256, {"secret": input.secret, "aud": "api"})',
    'io.jwt.decode_verify(input.t.aud, {"secret": input.secret})',
    'io.jwt.decode_verify(input.t.aud, {"secret": input.secret, "aud": "api"})',
    'io.jwt.decode_verify(input.t.aud_list, {"secret": input.secret, "aud": "api"})',
    'io.jwt.decode_verify(input.t.expired, {"secret": input.secret})',
    'io.jwt.decode_verify(input.t.expired, {"secret": input.secret, "time": 0})',
    'io.jwt.decode_verify(input.t.early, {"secret": input.secret})',
    'io.jwt.decode_verify(input.t.exp_string, {"secret": input.secret})',
    'io.jwt.decode_verify(input.t.crit, {"secret": input.secret})',
    'io.jwt.decode_verify(input.t.none, {"secret": input.secret})',
    'io.jwt.decode_verify(input.t.rs256, {"cert": input.rsa_cert})',
    'io.jwt.decode_verify(input.t.rs256, {"cert": input.jwks})',
    'io.jwt.decode_verify(input.t.rs256, {"cert": input.jwks, "alg": "RS256"})',
    'io.jwt.decode_verify(input.t.rs256, {"cert": input.ec_pem})',
    'io.jwt.decode_verify(input.t.ps256, {"cert": input.rsa_pem})',
    'io.jwt.decode_verify(input.t.es256, {"cert": input.jwks})',
    'io.jwt.decode_verify(input.t.ed, {"cert": input.ed_pem})',
    'io.jwt.decode_verify(input.t.hs256, {"cert": input.rsa_pem, "secret": input.secret})',
    "io.jwt.decode_verify(input.t.hs256, {})",
    'io.jwt.decode_verify(input.t.hs256, {"secret": input.secret, "unknown": 1})',
    'io.jwt.decode_verify(input.t.hs256, {"secret": input.secret, "time": -1})',
    'io.jwt.decode_verify(input.t.two_parts, {"secret": input.secret})',
    'io.jwt.encode_sign({"alg": "HS256", "typ": "JWT"}, {"a": "<b>&", "n": 1, "l": [true, null]}, input.oct)',
    'io.jwt.encode_sign({"alg": "HS512"}, {"sub": "x"}, input.oct)',
    'io.jwt.encode_sign({"alg": "XX1"}, {"sub": "x"}, input.oct)',
    'io.jwt.encode_sign_raw(`{"alg":"HS256","typ":"JWT"}`, `{"a":1}`, json.marshal(input.oct))',
    'io.jwt.encode_sign_raw(`{"alg":"HS256","typ":"JWT"}`, `not json`, json.marshal(input.oct))',
    'io.jwt.encode_sign_raw(`{"alg":"HS256","typ":"text"}`, `not json`, json.marshal(input.oct))',
]

CRYPTO_EXPRESSIONS = [
    'crypto.md5("")',
    'crypto.md5("héllo")',
    'crypto.sha1("abc")',
    'crypto.sha256("abc")',
    'crypto.hmac.md5("message", "key")',
    'crypto.hmac.sha1("message", "")',
    'crypto.hmac.sha256("message", "key")',
    'crypto.hmac.sha512("", "key")',
    'crypto.hmac.equal("abc", "abc")',
    'crypto.hmac.equal("abc", "abd")',
    'crypto.hmac.equal("", "")',
    "crypto.sha256(input.n)",
]

CIDR_EXPRESSIONS = [
    'net.cidr_intersects("10.0.0.0/8", "10.1.0.0/16")',
    'net.cidr_intersects("10.1.0.0/16", "10.0.0.0/8")',
    'net.cidr_intersects("10.0.0.0/8", "11.0.0.0/8")',
    'net.cidr_intersects("2001:db8::/32", "2001:db8:1::/48")',
    'net.cidr_intersects("10.0.0.0/8", "::/0")',
    'net.cidr_intersects("10.0.0.1/8", "10.200.0.0/16")',
    'net.cidr_intersects("10.0.0.0", "10.0.0.0/8")',
    'net.cidr_intersects("10.0.0.0/33", "10.0.0.0/8")',
    'net.cidr_merge(["10.0.0.0/9", "10.128.0.0/9"])',
    'net.cidr_merge(["10.0.0.1", "192.168.1.5", "172.16.0.1", "10.0.0.2"])',
    'net.cidr_merge(["10.0.0.0/24", "10.0.1.0/24", "10.0.3.0/24", "10.0.2.0/25"])',
    'net.cidr_merge(["2001:db8::/33", "2001:db8:8000::/33", "10.0.0.0/8"])',
    'net.cidr_merge(["1.2.3.4/32", "1.2.3.5/32", "1.2.3.6/31"])',
    'net.cidr_merge({"1.2.3.4/32", "1.2.3.5/32"})',
    "net.cidr_merge([])",
    'net.cidr_merge(["::1"])',
    'net.cidr_merge(["not an ip"])',
    "net.cidr_merge([input.n])",
    'io.jwt.verify_rs256(input.t.rs256, `{"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "XX99"}]}`)',
    'net.cidr_contains_matches(["10.0.0.0/8", "192.168.0.0/16"], ["10.1.1.1", "192.168.1.1", "8.8.8.8"])',
    'net.cidr_contains_matches({"a": "10.0.0.0/8", "b": ["192.168.0.0/16", "x"]}, "192.168.2.2")',
    'net.cidr_contains_matches("10.0.0.0/8", {"k": ["10.0.0.1", 1], "j": "10.3.0.0/16"})',
    'net.cidr_contains_matches(["10.0.0.0/8"], [[]])',
    'net.cidr_contains_matches(["10.0.0.0/8"], ["bogus"])',
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return {**_input(), "secret": SECRET, "n": 5}


@pytest.mark.parametrize("expression", JWT_EXPRESSIONS + CRYPTO_EXPRESSIONS + CIDR_EXPRESSIONS)
def test_builtin_matches_opa(expression: str, document: dict[str, Any]) -> None:
    modules = [("builtins.rego", f"package t\n\nr := {expression}\n")]
    opa = opa_engine(modules)
    try:
        expected = opa_outcome(opa, "t.r", document)
    finally:
        opa.close()
    engine = regorus_engine(modules)
    assert engine != LOAD_ERROR, "the embedded engine refused a builtin OPA has"
    actual = regorus_outcome(engine, "t.r", document)
    # encode_sign here uses HMAC, which is deterministic: the same header, payload and signature.
    assert actual == expected


def test_signatures_that_are_random_still_verify_in_opa() -> None:
    # PS and ES signatures are randomized: what the embedded engine signs must verify in OPA.
    rsa, ec = jwt_keys.rsa_key(), jwt_keys.ec_key()
    for key, alg in ((rsa, "PS384"), (ec, "ES256"), (rsa, "RS256")):
        jwk = json.loads(pyjwt.algorithms.get_default_algorithms()[alg].to_jwk(key))
        public_pem = jwt_keys.public_pem(key).decode()
        signer = [
            ("s.rego", 'package s\n\nt := io.jwt.encode_sign({"alg": input.alg}, {"sub": "x"}, input.jwk)\n')
        ]
        engine = regorus_engine(signer)
        token = regorus_outcome(engine, "s.t", {"alg": alg, "jwk": jwk})
        assert isinstance(token, Value)
        verifier = [("v.rego", 'package v\n\nok := io.jwt.decode_verify(input.token, {"cert": input.pem})\n')]
        opa = opa_engine(verifier)
        try:
            verdict = opa_outcome(opa, "v.ok", {"token": token.value, "pem": public_pem})
        finally:
            opa.close()
        assert isinstance(verdict, Value) and verdict.value[0] is True, alg
