"""The kill switch in the operator API (behind the admin bearer token, like all of ``/api/``).

```
GET    /api/kill-switch                    200 {"kills": [kill, ...]}
POST   /api/kill-switch                    201 {"kill": kill}
       body {"scope", "target", "reason", "actor"?}
DELETE /api/kill-switch/all                200 {"released": kill}
DELETE /api/kill-switch/{scope}/{target}   200 {"released": kill}, 404 when none was engaged
       body (optional) {"reason"?, "actor"?}
```

A kill is ``{"scope", "target", "reason", "actor", "engaged_at", "state_unavailable"}``. A body
that is not what these expect is a 400 (``invalid_request``); a shared state that does not
answer is a 503 (``state_unavailable``): an operator's action that did not take must not look
as if it did. ``actor`` defaults to ``operator`` (the token says nothing about who holds it).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ext_proc.admin.app import AdminExtension, Handler, error_response
from ext_proc.errors import ChaperoneError
from ext_proc.limits.killswitch import KillSwitch

BASE = "/api/kill-switch"
DEFAULT_ACTOR = "operator"
MAX_BODY_BYTES = 16 * 1024


def kill_switch_routes(kill_switch: KillSwitch) -> AdminExtension:
    """An ``AdminExtension`` adding the kill-switch routes for this instance."""

    async def list_kills(_request: web.Request) -> web.Response:
        kills = await kill_switch.active()
        return web.json_response({"kills": [kill.as_dict() for kill in kills]})

    async def engage(request: web.Request) -> web.Response:
        body = await _body(request, required=True)
        scope, target = _string(body, "scope"), _string(body, "target", "")
        kill = await kill_switch.engage(
            scope, target, _string(body, "reason"), _string(body, "actor", DEFAULT_ACTOR)
        )
        return web.json_response({"kill": kill.as_dict()}, status=201)

    async def release(request: web.Request) -> web.Response:
        body = await _body(request, required=False)
        scope, target = request.match_info["scope"], request.match_info.get("target", "")
        kill = await kill_switch.release(
            scope, target, _string(body, "reason", ""), _string(body, "actor", DEFAULT_ACTOR)
        )
        if kill is None:
            return error_response(404, "not_found", "no kill is engaged for this scope and target")
        return web.json_response({"released": kill.as_dict()})

    def extend(app: web.Application) -> None:
        app.router.add_get(BASE, _guarded(list_kills))
        app.router.add_post(BASE, _guarded(engage))
        app.router.add_delete(BASE + "/{scope}", _guarded(release))
        # Tool names may hold "/": the target is the rest of the path.
        app.router.add_delete(BASE + "/{scope}/{target:.+}", _guarded(release))

    return extend


class _BadRequestError(Exception):
    pass


def _guarded(handler: Handler) -> Handler:
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except (_BadRequestError, ValueError) as exc:
            return error_response(400, "invalid_request", str(exc))
        except ChaperoneError as exc:
            return error_response(503, exc.code.value, exc.message)
        return response

    return run


async def _body(request: web.Request, *, required: bool) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise _BadRequestError("the body is too large")
    if not raw.strip():
        if required:
            raise _BadRequestError("a JSON object is required")
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _BadRequestError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _BadRequestError("the body must be a JSON object")
    return body


def _string(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if value is None:
        raise _BadRequestError(f"{key} is required")
    if not isinstance(value, str):
        raise _BadRequestError(f"{key} must be a string")
    return value
