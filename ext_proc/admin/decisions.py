"""The decisions feed: recent audit events, and a live stream of them (operator token required).

``GET /api/decisions?limit=N`` answers ``{"decisions": [...]}``, the last N events oldest first.
``GET /api/decisions/stream?backlog=N`` is a Server-Sent Events stream: the last N events, then
each new one as it is written, one ``data:`` line of JSON per event (the log line itself, already
redacted). A comment line every ``KEEPALIVE_SECONDS`` keeps idle proxies from closing it; an
``event: dropped`` says how many events a slow reader missed.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from ext_proc.admin.app import AdminExtension, error_response
from ext_proc.audit.feed import DecisionFeed, Subscription

DEFAULT_LIMIT = 50
KEEPALIVE_SECONDS = 15.0
_KEEPALIVE = b": keep-alive\n\n"


def decisions_routes(feed: DecisionFeed) -> AdminExtension:
    async def recent(request: web.Request) -> web.Response:
        limit = _count(request, "limit", DEFAULT_LIMIT)
        if limit is None:
            return error_response(400, "invalid_limit", "limit must be a whole number from 0 to 10000")
        return web.json_response({"decisions": feed.recent(limit)}, dumps=_dumps)

    async def stream(request: web.Request) -> web.StreamResponse:
        backlog = _count(request, "backlog", 0)
        if backlog is None:
            return error_response(400, "invalid_backlog", "backlog must be a whole number from 0 to 10000")
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream",
                "cache-control": "no-store",
                "x-accel-buffering": "no",
            }
        )
        await response.prepare(request)
        subscription = feed.subscribe(backlog)
        try:
            await _relay(subscription, response)
        except ConnectionResetError:
            pass  # the reader went away
        finally:
            subscription.close()
        return response

    async def on_shutdown(_app: web.Application) -> None:
        feed.close()

    def extend(app: web.Application) -> None:
        app.router.add_get("/api/decisions", recent)
        app.router.add_get("/api/decisions/stream", stream)
        app.on_shutdown.append(on_shutdown)

    return extend


async def _relay(subscription: Subscription, response: web.StreamResponse) -> None:
    reported = 0
    while (event := await subscription.next(KEEPALIVE_SECONDS)) is not None:
        if subscription.dropped != reported:
            reported = subscription.dropped
            await response.write(b"event: dropped\ndata: " + orjson.dumps({"dropped": reported}) + b"\n\n")
        await response.write(b"data: " + orjson.dumps(event) + b"\n\n" if event else _KEEPALIVE)


def _count(request: web.Request, name: str, default: int) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) > 10000:
        return None
    return int(text)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()
