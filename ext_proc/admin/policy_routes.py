"""``GET /api/policy``: which policy answers and how its reloads went (operator token required)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ext_proc.admin.app import AdminExtension
from ext_proc.policy.status import PolicyStatus


def policy_routes(status: Callable[[], PolicyStatus]) -> AdminExtension:
    async def get_policy(_request: web.Request) -> web.Response:
        return web.json_response(status().as_dict())

    def extend(app: web.Application) -> None:
        app.router.add_get("/api/policy", get_policy)

    return extend
