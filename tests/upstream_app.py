"""The upstream used by integration tests: the demo upstream plus routes that tests steer."""

from __future__ import annotations

import asyncio
import gzip
import threading

from aiohttp import web

from ext_proc.demo.upstream import create_app


class Gates:
    """Named events a test opens to let a streaming upstream handler continue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: dict[str, threading.Event] = {}
        self.finished: dict[str, bool] = {}

    def get(self, name: str) -> threading.Event:
        with self._lock:
            return self._gates.setdefault(name, threading.Event())

    def open(self, name: str) -> None:
        self.get(name).set()


def test_upstream_app(gates: Gates) -> web.Application:
    app = create_app()

    async def gated_stream(request: web.Request) -> web.StreamResponse:
        """Sends the first part, waits until the test opens the gate, then sends the last part."""
        name = request.match_info["name"]
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        await response.write(b"first part: the secret is here\n")
        opened = await asyncio.to_thread(gates.get(name).wait, 20)
        gates.finished[name] = opened  # before the last write: the client may be done right after it
        await response.write(b"last part: another secret\n" if opened else b"gate timeout\n")
        await response.write_eof()
        return response

    async def chunks(request: web.Request) -> web.StreamResponse:
        """Sends the request body back in pieces of the size the query asks for."""
        size = int(request.query.get("size", "7"))
        body = await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        for start in range(0, len(body), size):
            await response.write(body[start : start + size])
            await asyncio.sleep(0.005)
        await response.write_eof()
        return response

    async def gzipped(_request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(b"compressed secret"),
            headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
        )

    async def latin1(_request: web.Request) -> web.Response:
        return web.Response(body=b"caf\xe9 \xff\xfe", headers={"Content-Type": "text/plain"})

    async def status(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": int(request.match_info["code"])}, status=int(request.match_info["code"])
        )

    app.router.add_get("/stream/gated/{name}", gated_stream)
    app.router.add_post("/stream/chunks", chunks)
    app.router.add_get("/stream/gzipped", gzipped)
    app.router.add_get("/stream/latin1", latin1)
    app.router.add_get("/status/{code}", status)
    return app
