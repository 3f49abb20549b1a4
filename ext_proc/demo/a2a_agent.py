"""The demo upstream's A2A agent (JSON-RPC, protocol 0.3) at ``/a2a``.

``message/send`` answers with a completed task whose artifact repeats the request's text beside
an e-mail address, ``message/stream`` with status and artifact events (SSE) one of which carries
an AWS key: what Chaperone redacts on the way back. Any other method is the JSON-RPC error for an
unknown method.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

METHOD_NOT_FOUND = -32601
PARSE_ERROR = -32700


async def handle_a2a(request: web.Request) -> web.StreamResponse:
    try:
        call = orjson.loads(await request.read())
        method, call_id = call["method"], call.get("id")
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return _error(None, PARSE_ERROR, "not a JSON-RPC request")
    if method == "message/stream":
        return await _stream(request, call_id)
    if method != "message/send":
        return _error(call_id, METHOD_NOT_FOUND, f"method not found: {method}")
    said = " ".join(_texts(call.get("params")))
    answer = f"Done. I looked up the account of {said}: it belongs to grace.hopper@example.com."
    task = {
        "kind": "task",
        "id": "task-1",
        "contextId": "ctx-1",
        "status": {"state": "completed"},
        "artifacts": [{"artifactId": "a1", "parts": [{"kind": "text", "text": answer}]}],
    }
    return web.json_response({"jsonrpc": "2.0", "id": call_id, "result": task})


def _texts(params: Any) -> list[str]:
    message = params.get("message") if isinstance(params, dict) else None
    parts = message.get("parts") if isinstance(message, dict) else None
    return [p.get("text", "") for p in parts or [] if isinstance(p, dict) and p.get("kind") == "text"]


def _error(call_id: Any, code: int, message: str) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": call_id, "error": {"code": code, "message": message}})


_IDS = {"taskId": "t2", "contextId": "c2"}
_KEY_TEXT = {"kind": "text", "text": "The key is AKIAIOSFODNN7EXAMPLE."}
STREAM_EVENTS: list[dict[str, Any]] = [
    {"kind": "status-update", **_IDS, "status": {"state": "working"}, "final": False},
    {"kind": "artifact-update", **_IDS, "artifact": {"artifactId": "a2", "parts": [_KEY_TEXT]}},
    {"kind": "status-update", **_IDS, "status": {"state": "completed"}, "final": True},
]


async def _stream(request: web.Request, call_id: Any) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in STREAM_EVENTS:
        message = {"jsonrpc": "2.0", "id": call_id, "result": event}
        await response.write(b"data: " + orjson.dumps(message) + b"\n\n")
        await asyncio.sleep(0.005)
    await response.write_eof()
    return response
