"""``GET /metrics`` on the admin port: open, like health and readiness (no operator token)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ext_proc.admin.app import AdminExtension
from ext_proc.metrics.prometheus import PrometheusMetrics


def metrics_routes(metrics: PrometheusMetrics) -> AdminExtension:
    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"content-type": CONTENT_TYPE_LATEST}
        )

    def extend(app: web.Application) -> None:
        app.router.add_get("/metrics", scrape)

    return extend
