"""The builtins Chaperone supplies to regorus (io.jwt.*, crypto.*, net.cidr_*) answer as real OPA.

Each expression is evaluated by the embedded engine, as the service builds it, and by OPA 1.20:
same value, same undefinedness, an error in both. Tokens are signed here with fresh keys of
every kind OPA verifies (HS, RS, PS, ES, EdDSA), and handed over as secrets, PEM certificates,
PEM public keys and JWK sets.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec as ec_keys
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

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


def _x509_certificates() -> dict[str, x509.Certificate]:
    """Certificates of every shape OPA's result has fields for: RSA (PKCS#1 v1.5 and PSS),
    ECDSA, Ed25519; names with every known attribute; each extension Go parses, an unknown
    critical one, name constraints, alternative names of each kind (a URI with user, port,
    escapes, query and fragment)."""
    rsa, ec, ed = (
        jwt_keys.rsa_key(),
        ec_keys.generate_private_key(ec_keys.SECP384R1()),
        jwt_keys.ed25519_key(),
    )
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    oid, uri, ip = x509.ObjectIdentifier, x509.UniformResourceIdentifier, ipaddress.ip_address
    eku = ExtendedKeyUsageOID
    every_name = x509.Name(
        [x509.NameAttribute(o, v) for o, v in [
            (NameOID.COUNTRY_NAME, "DE"), (NameOID.ORGANIZATION_NAME, "O"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "u1"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "u2"),
            (NameOID.EMAIL_ADDRESS, "a@b.c"), (NameOID.SERIAL_NUMBER, "S1"), (NameOID.LOCALITY_NAME, "L"),
            (NameOID.STATE_OR_PROVINCE_NAME, "P"), (NameOID.STREET_ADDRESS, "St"),
            (NameOID.POSTAL_CODE, "123"), (NameOID.DOMAIN_COMPONENT, "dc"), (NameOID.COMMON_NAME, "cn"),
        ]]
    )  # fmt: skip
    leaf_extensions = [
        (x509.KeyUsage(True, False, True, False, True, False, False, True, False), True),
        (x509.ExtendedKeyUsage([eku.SERVER_AUTH, eku.CLIENT_AUTH, oid("1.2.3.4")]), False),
        (x509.SubjectKeyIdentifier(b"\x01\x02"), False),
        (x509.AuthorityKeyIdentifier(b"\x03\x04", None, None), False),
        (x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp.x")),
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, uri("http://ca.x/c.crt")),
        ]), False),
        (x509.CRLDistributionPoints([x509.DistributionPoint([uri("http://c/a")], None, None, None)]), False),
        (x509.CertificatePolicies([x509.PolicyInformation(oid("2.5.29.32.0"), None)]), False),
        (x509.BasicConstraints(False, None), True),
        (x509.SubjectAlternativeName([
            x509.DNSName("svc.example"), x509.RFC822Name("svc@example.org"),
            x509.IPAddress(ip("10.0.0.1")), x509.IPAddress(ip("2001:db8::1")),
            x509.UniformResourceIdentifier("spiffe://td.example/ns/a/sa/b"),
            x509.UniformResourceIdentifier("https://user:pw@h.x:8443/a%20b/c?q=1&r=%20#frag"),
        ]), False),
        (x509.UnrecognizedExtension(oid("1.2.3.99"), b"\x05\x00"), True),
    ]  # fmt: skip
    ca_extensions = [
        (x509.NameConstraints(
            [x509.DNSName("good.x"), x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")),
             x509.RFC822Name("x.y"), x509.UniformResourceIdentifier(".u.x")],
            [x509.DNSName("bad.x"), x509.IPAddress(ipaddress.ip_network("2001:db8::/32"))],
        ), True),
        (x509.BasicConstraints(True, 0), True),
        (x509.SubjectAlternativeName([x509.DirectoryName(every_name)]), True),
    ]  # fmt: skip

    def build(key: Any, extensions: list[Any], name: x509.Name, **sign: Any) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer")]))
            .public_key(key.public_key())
            .serial_number(2**100 + 7)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=400))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(key, **sign)

    common = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc")])
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    return {
        "rsa": build(rsa, [], common, algorithm=hashes.SHA256()),
        "ed25519": build(ed, leaf_extensions, every_name, algorithm=None),
        "pss_ca": build(rsa, ca_extensions, common, algorithm=hashes.SHA256(), rsa_padding=pss),
        "ec384": build(ec, leaf_extensions[:3], common, algorithm=hashes.SHA384()),
    }


_PRIME = 2**61 - 1


def _numbers(certificate: x509.Certificate) -> Any:
    return certificate.public_key().public_numbers()  # type: ignore[union-attr]


def _x509_input() -> dict[str, Any]:
    certificates = _x509_certificates()
    pem = {name: c.public_bytes(serialization.Encoding.PEM).decode() for name, c in certificates.items()}
    der = {name: c.public_bytes(serialization.Encoding.DER) for name, c in certificates.items()}
    key = jwt_keys.private_pem(rsa_keys.generate_private_key(65537, 2048)).decode()
    return {
        **pem,
        "chain": pem["ed25519"] + pem["pss_ca"] + pem["rsa"],
        "b64_der": base64.b64encode(der["ec384"]).decode(),
        "b64_chain": base64.b64encode(der["rsa"] + der["ec384"]).decode(),
        "b64_pem": base64.b64encode(pem["pss_ca"].encode()).decode(),
        "key": key,
        "cert_then_key": pem["rsa"] + key,
        "junk_first": "junk\n" + pem["rsa"],
        # Residues of the key's numbers (the numbers themselves are too long for a Rego literal).
        "rsa_n": _numbers(certificates["rsa"]).n % _PRIME,
        "ec_x": _numbers(certificates["ec384"]).x % _PRIME,
    }


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


# A public key's numbers have thousands of bits, beyond what the engine writes as JSON: whole
# certificates are compared without the key, the key's numbers exactly, inside the policy.
_WITHOUT_KEY = '[object.remove(c, ["PublicKey"]) | some c in crypto.x509.parse_certificates({})]'
X509_EXPRESSIONS = [
    *[
        _WITHOUT_KEY.format(f"input.x509.{name}")
        for name in ("rsa", "ed25519", "pss_ca", "ec384", "chain", "b64_der", "b64_chain", "b64_pem")
    ],
    # Errors: a PEM block of another type, base64 of neither PEM nor DER, text before the PEM.
    *[
        f"crypto.x509.parse_certificates(input.x509.{name})"
        for name in ("key", "cert_then_key", "junk_first")
    ],
    'crypto.x509.parse_certificates("")',
    'crypto.x509.parse_certificates("not base64!")',
    'crypto.x509.parse_certificates("aGVsbG8=")',
    "crypto.x509.parse_certificates(input.n)",
    # Integers beyond 64 bits are exact (JSON answers carry them as floats: compared inside).
    f"crypto.x509.parse_certificates(input.x509.rsa)[0].PublicKey.N % {_PRIME} == input.x509.rsa_n",
    "crypto.x509.parse_certificates(input.x509.rsa)[0].PublicKey.N % 4294967296",
    "crypto.x509.parse_certificates(input.x509.rsa)[0].PublicKey.E",
    f"crypto.x509.parse_certificates(input.x509.ec384)[0].PublicKey.X % {_PRIME} == input.x509.ec_x",
    "crypto.x509.parse_certificates(input.x509.ec384)[0].PublicKey.Curve",
    "crypto.x509.parse_certificates(input.x509.ed25519)[0].PublicKey",
    "crypto.x509.parse_certificates(input.x509.rsa)[0].SerialNumber == 1267650600228229401496703205383",
    "crypto.x509.parse_certificates(input.x509.rsa)[0].SerialNumber == 1267650600228229401496703205384",
    "format_int(crypto.x509.parse_certificates(input.x509.rsa)[0].SerialNumber, 16)",
    # What policies read: a SPIFFE ID, the names, the validity.
    "[u | some c in crypto.x509.parse_certificates(input.x509.chain); some u in c.URIStrings]",
    "crypto.x509.parse_certificates(input.x509.ed25519)[0].Subject.CommonName",
    "time.parse_rfc3339_ns(crypto.x509.parse_certificates(input.x509.rsa)[0].NotAfter)",
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return {**_input(), "secret": SECRET, "n": 5, "x509": _x509_input()}


@pytest.mark.parametrize(
    "expression", JWT_EXPRESSIONS + CRYPTO_EXPRESSIONS + CIDR_EXPRESSIONS + X509_EXPRESSIONS
)
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
