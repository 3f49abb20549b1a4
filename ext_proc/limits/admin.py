"""The kill switch in the operator API: HTTP routes (an ``AdminExtension``) and the gRPC backend.

HTTP, behind the admin bearer token like all of ``/api/``::

    GET    /api/kill-switch                              200 {"kills": [<kill>, ...]}
    POST   /api/kill-switch                              201 {"kill": <kill>}
           body {"scope", "target" (not for "all"), "reason"}
    DELETE /api/kill-switch?scope=agent&target=bot       200 {"released": <kill>}
           body (optional) {"reason"}

``<kill>`` is ``{"scope", "target", "reason", "actor", "engaged_at", "state_unavailable"}``
(``target`` is null for scope ``all``; ``engaged_at`` is an ISO 8601 time), the shape the
console reads. The actor is the operator the token names
(``request[OPERATOR_KEY]``), never a field of the body. Errors are ``{"error": {"code",
"message"}}``: 400 ``operator_request_invalid``, 404 ``kill_not_found`` (nothing engaged for that
scope and target), 503 ``state_unavailable`` (an operator's action that did not take must not
look as if it did). Every engage and release is an ``operator_action`` audit event, as through
the gRPC API.

``KillSwitchRpc`` is the ``KillSwitchBackend`` the admin gRPC API (ext_proc/admin/rpc) calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from ext_proc.admin.app import OPERATOR_KEY, AdminExtension, Handler, error_response
from ext_proc.admin.rpc.backends import InvalidError, KillRecord, KillScope
from ext_proc.audit import AuditLog
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits.kill_store import ALL_TARGET, Kill
from ext_proc.limits.killswitch import KillSwitch

BASE = "/api/kill-switch"
MAX_BODY_BYTES = 16 * 1024


def kill_switch_routes(kill_switch: KillSwitch, audit: AuditLog | None = None) -> AdminExtension:
    """An ``AdminExtension`` adding the kill-switch routes for this instance."""

    async def list_kills(_request: web.Request) -> web.Response:
        kills = await kill_switch.active()
        return web.json_response({"kills": [kill.as_dict() for kill in kills]})

    async def engage(request: web.Request) -> web.Response:
        body = _fields(await _body(request, required=True), {"scope", "target", "reason"})
        scope, reason = _string(body, "scope"), _string(body, "reason")
        # No target (absent or null) for scope "all", as the console sends it.
        target = "" if body.get("target") is None else _string(body, "target")
        operator = request[OPERATOR_KEY]
        kill = await kill_switch.engage(scope, target, reason, operator)
        record = kill.as_dict()
        _audit(audit, operator, "kill_switch.engage", kill.scope, record["target"], reason=reason)
        return web.json_response({"kill": record}, status=201)

    async def release(request: web.Request) -> web.Response:
        body = _fields(await _body(request, required=False), {"reason"})
        scope, target = request.query.get("scope", ""), request.query.get("target", "")
        reason, operator = _string(body, "reason", ""), request[OPERATOR_KEY]
        kill = await kill_switch.release(scope, target, reason, operator)
        _audit(audit, operator, "kill_switch.release", scope, target or None, released=kill is not None)
        if kill is None:
            return error_response(
                404, ErrorCode.KILL_NOT_FOUND.value, "no kill is engaged for this scope and target"
            )
        return web.json_response({"released": kill.as_dict()})

    def extend(app: web.Application) -> None:
        app.router.add_get(BASE, _guarded(list_kills))
        app.router.add_post(BASE, _guarded(engage))
        app.router.add_delete(BASE, _guarded(release))

    return extend


class KillSwitchRpc:
    """The admin gRPC API's ``KillSwitchBackend`` over a ``KillSwitch`` (the servicer audits)."""

    def __init__(self, kill_switch: KillSwitch) -> None:
        self._kill_switch = kill_switch

    async def engage(self, scope: KillScope, target: str | None, reason: str, actor: str) -> KillRecord:
        try:
            kill = await self._kill_switch.engage(scope, target or "", reason, actor)
        except ValueError as exc:
            raise InvalidError(str(exc)) from None
        return kill_record(kill)

    async def release(self, scope: KillScope, target: str | None, actor: str) -> bool:
        try:
            return await self._kill_switch.release(scope, target or "", "", actor) is not None
        except ValueError as exc:
            raise InvalidError(str(exc)) from None

    async def list(self) -> Sequence[KillRecord]:
        return [kill_record(kill) for kill in await self._kill_switch.active()]


def kill_record(kill: Kill) -> KillRecord:
    target = None if kill.target == ALL_TARGET and kill.scope == "all" else kill.target
    return KillRecord(kill.scope, target, kill.reason, kill.actor, kill.engaged_at)


class _BadRequestError(Exception):
    pass


def _guarded(handler: Handler) -> Handler:
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (_BadRequestError, ValueError) as exc:
            return error_response(400, ErrorCode.OPERATOR_REQUEST_INVALID.value, str(exc))
        except ChaperoneError as exc:
            return error_response(503, exc.code.value, exc.message)

    return run


def _audit(
    audit: AuditLog | None, operator: str, operation: str, scope: str, target: str | None, **fields: Any
) -> None:
    if audit is not None:
        audit.event(
            "operator_action", operator=operator, api="http", operation=operation, scope=scope, target=target,
            **fields,
        )  # fmt: skip


async def _body(request: web.Request, *, required: bool) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise _BadRequestError(f"the body is larger than {MAX_BODY_BYTES} bytes")
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


def _fields(body: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = set(body) - allowed
    if unknown:
        raise _BadRequestError(f"unknown field {sorted(unknown)[0]!r}")
    return body


def _string(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if value is None:
        raise _BadRequestError(f"{key} is required")
    if not isinstance(value, str):
        raise _BadRequestError(f"{key} must be a string")
    return value
