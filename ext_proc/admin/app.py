"""The admin HTTP application.

Open routes: ``/healthz`` (the process is alive) and ``/readyz`` (it serves and has a policy).
Everything under ``/api/`` is the operator API and requires ``Authorization: Bearer <token>``,
the token being the content of ``admin.token_file`` (read on each request, so a rotated Secret
takes effect at once); without a configured token the operator API answers 503, never open.
Features add their routes through ``AdminExtension`` callables.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

AdminExtension = Callable[[web.Application], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/api/"
READY_KEY: web.AppKey[Callable[[], bool]] = web.AppKey("ready", Callable[[], bool])  # type: ignore[arg-type]
TOKEN_FILE_KEY: web.AppKey[str | None] = web.AppKey("token_file", str)


def build_admin_app(
    ready: Callable[[], bool], token_file: str | None, extensions: Sequence[AdminExtension] = ()
) -> web.Application:
    app = web.Application(middlewares=[_require_token])
    app[READY_KEY] = ready
    app[TOKEN_FILE_KEY] = token_file
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    for extend in extensions:
        extend(app)
    return app


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _readyz(request: web.Request) -> web.Response:
    if request.app[READY_KEY]():
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready"}, status=503)


@web.middleware
async def _require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    expected = _token(request.app[TOKEN_FILE_KEY])
    if expected is None:
        return _error(503, "admin_disabled", "the operator API needs admin.token_file")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return _error(401, "unauthorized", "a valid bearer token is required")
    return await handler(request)


def _token(token_file: str | None) -> str | None:
    if token_file is None:
        return None
    try:
        token = Path(token_file).read_text().strip()
    except OSError:
        return None
    return token or None


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def error_response(status: int, code: str, message: str) -> web.Response:
    """The operator API's error shape, for the routes features add."""
    return _error(status, code, message)
