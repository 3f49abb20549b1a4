"""A scripted upstream as lenient as the real ones an attacker counts on, recording all it receives.

It reads every body as JSON whatever its Content-Type (FastAPI, and the MCP SDKs, which take
the first of two labels), in any encoding Python's ``json.loads`` detects (UTF-16, a byte-order
mark), keeps the *first* of two duplicate keys (some JSON-RPC servers do; Chaperone's old parser
judged the last), executes every call of a JSON-RPC batch (as the TypeScript MCP SDK server
does) and answers LLM calls the way the providers' SDKs expect (the demo upstream's answers).
Whatever reaches it is recorded, raw: a test asserts on what the upstream received.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ext_proc.demo.upstream import create_app


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return lenient_json(self.body)


@dataclass
class Recorder:
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def since(self, mark: int) -> list[Received]:
        with self._lock:
            return self.received[mark:]

    def mark(self) -> int:
        with self._lock:
            return len(self.received)

    def everything(self) -> bytes:
        """Every byte received, headers and bodies, for "did this secret get through" checks."""
        with self._lock:
            parts = [f"{r.method} {r.path} {r.headers}".encode() + b"\n" + r.body for r in self.received]
        return b"\n".join(parts)


def first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def lenient_json(body: bytes) -> Any:
    """As a lenient server reads a body: any label, any encoding json detects, first key wins,
    NaN and Infinity accepted."""
    return json.loads(body, object_pairs_hook=first_wins)


def lenient_app(recorder: Recorder) -> web.Application:
    app = create_app()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        recorder.add(Received(request.method, request.path_qs, dict(request.headers), body))
        if request.method == "POST" and request.path in JSONRPC_PATHS:
            return _jsonrpc(JSONRPC_PATHS[request.path], body)
        return await handler(request)

    app.middlewares.append(record)
    return app


# Answered here, leniently, in place of the demo's strict tool server.
JSONRPC_PATHS = {"/mcp": "mcp", "/a2a": "a2a", "/anything": "mcp"}


def _jsonrpc(kind: str, body: bytes) -> web.Response:
    try:
        document = lenient_json(body)
    except ValueError:
        return web.json_response(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse"}}
        )
    calls = document if isinstance(document, list) else [document]
    answers = [_answer(kind, call) for call in calls if isinstance(call, dict) and "id" in call]
    if not answers:
        return web.Response(status=202)
    return web.json_response(answers if isinstance(document, list) else answers[0])


def _answer(kind: str, call: dict[str, Any]) -> dict[str, Any]:
    method, params = call.get("method"), call.get("params") or {}
    if method == "initialize":
        result: Any = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "1"},
        }
    elif method == "tools/list":
        result = {"tools": [{"name": "get_customer", "inputSchema": {"type": "object"}}]}
    elif kind == "a2a":
        result = {
            "kind": "message",
            "messageId": "reply-1",
            "role": "agent",
            "parts": [{"kind": "text", "text": "done"}],
        }
    else:
        executed = f"executed {params.get('name')} with {json.dumps(params.get('arguments'))}"
        result = {"content": [{"type": "text", "text": executed}], "isError": False}
    return {"jsonrpc": "2.0", "id": call.get("id"), "result": result}
