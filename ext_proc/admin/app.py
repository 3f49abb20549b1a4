"""The admin HTTP application.

Open routes: ``/healthz`` (the process is alive) and ``/readyz`` (it serves and has a policy).
Everything under ``/api/`` is the operator API and requires ``Authorization: Bearer <token>``.
``admin.token_file`` holds the tokens: one per line, ``<operator name> <token>``, or a single
bare token (the operator "admin"). It is read on each request, so a rotated Secret takes
effect at once; without a configured token the operator API answers 503, never open. The
operator's name is ``request[OPERATOR_KEY]`` (who approved, who pulled the kill switch).
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
# A typed request key: aiohttp warns on plain string keys (an error under the tests' warning filter).
OPERATOR_KEY: web.RequestKey[str] = web.RequestKey("chaperone.operator", str)
DEFAULT_OPERATOR = "admin"
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
    tokens = operator_tokens(request.app[TOKEN_FILE_KEY])
    if not tokens:
        return _error(503, "admin_disabled", "the operator API needs admin.token_file")
    operator = bearer_operator(tokens, request.headers.get("authorization", ""))
    if operator is None:
        return _error(401, "unauthorized", "a valid bearer token is required")
    request[OPERATOR_KEY] = operator
    return await handler(request)


def operator_tokens(token_file: str | None) -> dict[str, str]:
    """Operator name -> token, from the token file (empty when there is none)."""
    if token_file is None:
        return {}
    try:
        lines = Path(token_file).read_text().splitlines()
    except OSError:
        return {}
    entries = [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if len(entries) == 1 and len(entries[0]) == 1:
        return {DEFAULT_OPERATOR: entries[0][0]}
    return {entry[0]: entry[1] for entry in entries if len(entry) == 2}


def bearer_operator(tokens: dict[str, str], authorization: str) -> str | None:
    """The operator whose token an Authorization value (``Bearer <token>``) carries, or None.

    Also used by the operator API over gRPC (the ``authorization`` metadata)."""
    scheme, _, given = authorization.partition(" ")
    return _operator(tokens, given.strip()) if scheme.lower() == "bearer" else None


def _operator(tokens: dict[str, str], given: str) -> str | None:
    # Compare against every token, in constant time each, whatever matches.
    found = None
    for name, token in tokens.items():
        if hmac.compare_digest(given.encode(), token.encode()):
            found = name
    return found


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def error_response(status: int, code: str, message: str) -> web.Response:
    """The operator API's error shape, for the routes features add."""
    return _error(status, code, message)
