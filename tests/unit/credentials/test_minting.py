"""Minted per-task tokens, verified as an upstream would: PyJWT against the JWKS served by the admin port."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.server import AdminServer
from ext_proc.config import Config
from ext_proc.credentials.broker import CredentialBroker
from ext_proc.credentials.decision import MintToken
from ext_proc.credentials.minting import ROTATION_GRACE_SECONDS
from ext_proc.credentials.signing_keys import jwk_thumbprint
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.watch import FileLoadError
from tests.harness import free_port
from tests.jwt_keys import ec_key, ed25519_key, private_pem, public_pem, rsa_key, write

ISSUER = "https://chaperone.agents.svc"
MAX_TTL = 600


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_broker(tmp_path: Path, clock: Clock) -> Callable[..., CredentialBroker]:
    def make(key: Any = None, **minting: Any) -> CredentialBroker:
        key_file = tmp_path / "signing.pem"
        if key is not None:
            write(key_file, private_pem(key))
        section = {
            "minting": {"key_file": str(key_file), "issuer": ISSUER, "max_ttl_seconds": MAX_TTL, **minting}
        }
        config = msgspec.convert({"credentials": section}, Config, strict=True)
        return CredentialBroker(config.credentials, clock=clock)

    return make


@pytest.fixture
async def jwks_url(
    make_broker: Callable[..., CredentialBroker],
) -> AsyncIterator[Callable[[CredentialBroker], Any]]:
    """Serve a broker's key set from a real admin app on a free port; returns its URL."""
    servers: list[AdminServer] = []

    async def serve(broker: CredentialBroker) -> str:
        server = AdminServer(
            build_admin_app(lambda: True, None, [broker.admin_extension()]), f"127.0.0.1:{free_port()}"
        )
        await server.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}/.well-known/jwks.json"

    yield serve
    for server in servers:
        await server.stop()


async def verify(url: str, token: str, audience: str = "billing-api") -> dict[str, Any]:
    """What an upstream does: PyJWT's JWKS client fetches the set and picks the key by kid."""

    def run() -> dict[str, Any]:
        signing_key = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False).get_signing_key_from_jwt(
            token
        )
        return jwt.decode(token, signing_key, audience=audience, issuer=ISSUER)

    return await asyncio.to_thread(run)


async def published_keys(url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        keys: list[dict[str, Any]] = (await client.get(url)).json()["keys"]
    return keys


@pytest.mark.parametrize(("make_key", "alg"), [(ed25519_key, "EdDSA"), (ec_key, "ES256"), (rsa_key, "RS256")])
async def test_an_upstream_verifies_a_minted_token(
    make_broker: Callable[..., CredentialBroker], jwks_url: Any, make_key: Callable[[], Any], alg: str
) -> None:
    broker = make_broker(make_key())
    url = await jwks_url(broker)
    token = broker.mint("support-bot", "billing-api", 120, {"task": "refund-42", "scope": ["refunds:write"]})
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg and header["typ"] == "JWT"
    published = await published_keys(url)
    assert [k["kid"] for k in published] == [header["kid"]]
    assert header["kid"] == jwk_thumbprint(published[0]), "RFC 7638 thumbprint"
    assert published[0]["use"] == "sig" and published[0]["alg"] == alg
    assert "d" not in published[0], "only the public key is published"
    claims = await verify(url, token)
    assert claims["sub"] == "support-bot" and claims["aud"] == "billing-api" and claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 120
    assert claims["task"] == "refund-42" and claims["scope"] == ["refunds:write"]
    assert (
        claims["jti"]
        != jwt.decode(broker.mint("support-bot", "billing-api"), options={"verify_signature": False})["jti"]
    )


async def test_the_jwks_route_is_open_and_the_operator_api_is_not(
    make_broker: Callable[..., CredentialBroker], tmp_path: Path
) -> None:
    broker = make_broker(ed25519_key())
    token_file = write(tmp_path / "admin-token", "operator-token")
    server = AdminServer(
        build_admin_app(lambda: True, str(token_file), [broker.admin_extension()]), f"127.0.0.1:{free_port()}"
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            response = await client.get("/.well-known/jwks.json")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/json")
            assert "max-age" in response.headers["cache-control"]
            assert (await client.get("/api/anything")).status_code == 401
    finally:
        await server.stop()


async def test_expiry(make_broker: Callable[..., CredentialBroker], jwks_url: Any, clock: Clock) -> None:
    broker = make_broker(ec_key())
    url = await jwks_url(broker)
    clock.now -= 121
    stale = broker.mint("support-bot", "billing-api", 120)
    with pytest.raises(jwt.ExpiredSignatureError):
        await verify(url, stale)
    clock.now += 121
    assert (await verify(url, broker.mint("support-bot", "billing-api", 120)))["sub"] == "support-bot"


async def test_audience(make_broker: Callable[..., CredentialBroker], jwks_url: Any) -> None:
    broker = make_broker(ed25519_key())
    url = await jwks_url(broker)
    token = broker.mint("support-bot", ["billing-api", "ledger-api"], 60)
    assert (await verify(url, token, audience="ledger-api"))["aud"] == ["billing-api", "ledger-api"]
    with pytest.raises(jwt.InvalidAudienceError):
        await verify(url, token, audience="payroll-api")


async def test_rotation_keeps_the_previous_key_published_while_its_tokens_live(
    make_broker: Callable[..., CredentialBroker], jwks_url: Any, clock: Clock, tmp_path: Path
) -> None:
    broker = make_broker(ed25519_key())
    url = await jwks_url(broker)
    before = broker.mint("support-bot", "billing-api", MAX_TTL)
    # The Secret holding the key is updated: a new file replaces the old one atomically.
    write(tmp_path / "signing.new", private_pem(ec_key()))
    os.replace(tmp_path / "signing.new", tmp_path / "signing.pem")
    broker.poll()
    after = broker.mint("support-bot", "billing-api", MAX_TTL)
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert jwt.get_unverified_header(after)["alg"] == "ES256"
    assert len(await published_keys(url)) == 2
    assert (await verify(url, before))["sub"] == (await verify(url, after))["sub"] == "support-bot"
    # Once no token signed with the old key can still be valid, the old key is withdrawn.
    clock.now += MAX_TTL + ROTATION_GRACE_SECONDS
    assert [k["kid"] for k in await published_keys(url)] == [jwt.get_unverified_header(after)["kid"]]
    with pytest.raises(jwt.PyJWKClientError):
        await verify(url, before)


async def test_published_keys_and_a_broken_key_file(
    make_broker: Callable[..., CredentialBroker], tmp_path: Path
) -> None:
    next_key = rsa_key()
    published = write(tmp_path / "next.pub.pem", public_pem(next_key))
    broker = make_broker(ed25519_key(), published_key_files=[str(published)])
    assert broker.minter is not None
    kids = [k["kid"] for k in broker.jwks()["keys"]]
    assert len(kids) == 2 and kids[0] == broker.minter.current_kid
    # A key file that becomes garbage keeps the last good key signing.
    write(tmp_path / "signing.pem", b"-----BEGIN PRIVATE KEY-----\ngarbage\n")
    broker.poll()
    assert jwt.get_unverified_header(broker.mint("a", "b"))["kid"] == kids[0]


def test_rfc7638_thumbprint_example() -> None:
    # The RSA key of RFC 7638 §3.1 and its thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
        "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZ"
        "Hzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kE"
        "gU8awapJzKnqDKgw"
    )
    assert jwk_thumbprint({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.mint("bot", "api", MAX_TTL + 1), "ttl_seconds"),
        (lambda b: b.mint("bot", "api", 0), "ttl_seconds"),
        (lambda b: b.mint("", "api"), "subject"),
        (lambda b: b.mint("bot", ""), "audience"),
        (lambda b: b.mint("bot", []), "audience"),
        (lambda b: b.mint("bot", "api", 60, {"sub": "admin"}), "'sub' is set by Chaperone"),
        (lambda b: b.mint("bot", "api", 60, {"exp": 1}), "'exp' is set by Chaperone"),
        (lambda b: b.mint("bot", "api", 60, {"blob": object()}), "not JSON values"),
    ],
)
def test_requests_the_minter_refuses(
    make_broker: Callable[..., CredentialBroker], call: Callable[[CredentialBroker], Any], message: str
) -> None:
    broker = make_broker(ed25519_key())
    with pytest.raises(ChaperoneError, match=message) as raised:
        call(broker)
    assert raised.value.code == ErrorCode.TOKEN_MINT_FAILED


def test_the_default_lifetime_and_the_decision_helper(make_broker: Callable[..., CredentialBroker]) -> None:
    broker = make_broker(ed25519_key(), default_ttl_seconds=90)
    [(header, value)] = broker.mint_headers(MintToken(audience="api", claims={"task": "t-1"}), "support-bot")
    assert header == "authorization" and value.startswith("Bearer ")
    claims = jwt.decode(value.removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 90 and claims["task"] == "t-1"


def test_without_minting_nothing_is_minted_or_served() -> None:
    broker = CredentialBroker.from_config(msgspec.convert({}, Config))
    with pytest.raises(ChaperoneError) as raised:
        broker.mint("bot", "api")
    assert raised.value.code == ErrorCode.TOKEN_MINT_FAILED
    assert broker.jwks() == {"keys": []}
    app = build_admin_app(lambda: True, None, [broker.admin_extension()])
    assert not any(
        r.resource and r.resource.canonical == "/.well-known/jwks.json" for r in app.router.routes()
    )


@pytest.mark.parametrize(
    "pem",
    [
        b"not a key",
        private_pem(rsa_key()).replace(b"PRIVATE", b"PUBLIC"),
        # EC P-384 is not one of the signing algorithms.
        None,
    ],
)
def test_unusable_signing_keys_are_refused_at_start(
    make_broker: Callable[..., CredentialBroker], tmp_path: Path, pem: bytes | None
) -> None:
    write(
        tmp_path / "signing.pem",
        pem if pem is not None else private_pem(ec.generate_private_key(ec.SECP384R1())),
    )
    with pytest.raises(FileLoadError):
        make_broker()


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_the_token_carries_no_private_material(make_broker: Callable[..., CredentialBroker]) -> None:
    key = ed25519_key()
    broker = make_broker(key)
    header, payload, _ = broker.mint("bot", "api").split(".")
    assert set(json.loads(_b64decode(header))) == {"alg", "kid", "typ"}
    assert set(json.loads(_b64decode(payload))) == {"iss", "sub", "aud", "iat", "exp", "jti"}
