"""The minter's public keys on the admin port, for upstreams that verify minted tokens.

``GET /.well-known/jwks.json`` is an open route (outside ``/api/``): public keys are public, and
an upstream's JWT library fetches them without credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from ext_proc.admin.app import AdminExtension

JWKS_PATH = "/.well-known/jwks.json"
# Verifiers may cache the set this long; a token with a new kid makes them fetch it again anyway.
JWKS_MAX_AGE_SECONDS = 60


def jwks_extension(jwks: Callable[[], dict[str, Any]]) -> AdminExtension:
    async def serve_jwks(_request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(jwks()),
            content_type="application/json",
            headers={"cache-control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
        )

    def extend(app: web.Application) -> None:
        app.router.add_get(JWKS_PATH, serve_jwks)

    return extend
