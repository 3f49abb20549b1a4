"""A scripted hostile upstream: it answers whatever status, headers and bytes a test tells it to.

An attacker who controls an AI upstream (or sits in front of one) controls every status code,
header and byte of its answers. Tests register a script under a name and send requests with
``x-hostile: <name>``; the upstream plays the script: a status, headers in order (duplicates
allowed, none at all allowed: no Content-Type is added), and the body in chunks with a pause
between them, so that Envoy hands Chaperone the body in several pieces.

An MCP client must initialize before it calls a tool: ``mcp_script`` answers ``initialize``,
notifications and the client's answers to server requests as a well-behaved server would, and
plays the hostile answer on every other call, with the id of the request it answers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.harness import free_port

SCRIPT_HEADER = "x-hostile"
PROTOCOL_VERSION = "2025-06-18"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    chunks: tuple[bytes, ...] = ()
    pause: float = 0.005  # between chunks


Script = Callable[[bytes], Answer]


def fixed(answer: Answer) -> Script:
    return lambda _body: answer


def json_answer(document: Any, *, status: int = 200, content_type: str | None = "application/json") -> Answer:
    headers = (("content-type", content_type),) if content_type else ()
    return Answer(status, headers, (orjson.dumps(document),))


def split(data: bytes, size: int) -> tuple[bytes, ...]:
    return tuple(data[i : i + size] for i in range(0, len(data), size)) or (b"",)


def mcp_script(answer: Callable[[Any], Answer], *, tools: list[dict[str, Any]] | None = None) -> Script:
    """A server that initializes properly, then answers every request with ``answer(request_id)``
    (``tools/list`` with ``tools`` when given: an SDK lists them to check a call's result)."""

    def play(body: bytes) -> Answer:
        message = orjson.loads(body) if body else {}
        method = message.get("method") if isinstance(message, dict) else None
        if method == "initialize":
            result = {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hostile", "version": "1"},
            }
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
            return Answer(
                200, (("content-type", "application/json"), ("mcp-session-id", "s1")), (orjson.dumps(reply),)
            )
        if not isinstance(message, dict) or method is None or "id" not in message:
            return Answer(202)  # a notification, or the client answering a server's request
        if method == "tools/list" and tools is not None:
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": tools}}
            return Answer(200, (("content-type", "application/json"),), (orjson.dumps(reply),))
        return answer(message.get("id") if isinstance(message, dict) else None)

    return play


class HostileUpstream:
    """An aiohttp server in a background thread that plays registered scripts."""

    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.received: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="hostile")

    def script(self, name: str, script: Script) -> dict[str, str]:
        """Register a script; returns the header that selects it."""
        self.scripts[name] = script
        return {SCRIPT_HEADER: name}

    def start(self) -> HostileUpstream:
        self.port = free_port()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._play)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _play(self, request: web.Request) -> web.StreamResponse:
        script = self.scripts.get(request.headers.get(SCRIPT_HEADER, ""))
        if script is None:
            return web.Response(status=404, text="no such script")
        self.received.append((request.method, request.path, dict(request.headers)))
        answer = script(await request.read())
        response = web.StreamResponse(status=answer.status)
        for name, value in answer.headers:
            response.headers.add(name, value)
        if not answer.chunks:
            response.headers["content-length"] = "0"
        await response.prepare(request)
        for i, chunk in enumerate(answer.chunks):
            if i:
                await asyncio.sleep(answer.pause)
            await response.write(chunk)
        await response.write_eof()
        return response

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
