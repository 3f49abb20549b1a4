"""Keys, tokens and a real HTTP JWKS server for the identity and credential tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.com"
AUDIENCE = "chaperone"
HS_SECRET = b"a-test-hmac-secret-that-is-32-bytes-or-more!"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(private_key: Any, kid: str | None, alg: str | None = None) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    if alg is not None:
        jwk["alg"] = alg
    return jwk


def jwks(*keys: dict[str, Any]) -> bytes:
    return orjson.dumps({"keys": list(keys)})


def private_pem(private_key: Any) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(private_key: Any) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def claims(sub: str = "support-bot", lifetime: float = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + lifetime, **extra}


def token(key: Any, alg: str, kid: str | None, payload: dict[str, Any] | None = None) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload if payload is not None else claims(), key, algorithm=alg, headers=headers)


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


class JwksServer:
    """A real HTTP server on a free loopback port that serves ``document`` and counts requests."""

    def __init__(self, document: bytes) -> None:
        self.document = document
        self.status = 200
        self.requests = 0
        self.url = ""

    async def _serve(self, _request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(body=self.document, status=self.status, content_type="application/json")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[JwksServer]:
        app = web.Application()
        app.router.add_get("/jwks.json", self._serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        self.url = f"http://127.0.0.1:{port}/jwks.json"
        try:
            yield self
        finally:
            await runner.cleanup()
