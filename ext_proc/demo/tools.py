"""A tool server for the demo: MCP over Streamable HTTP, answered as JSON (one response per POST).

Just enough of MCP for `make run` to show tool calls decided one by one (a large refund waits
for an operator in the console): ``initialize``, ``tools/list`` and ``tools/call`` with canned
results, 202 for notifications. The tests use a real MCP server (the `mcp` SDK) instead.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

PROTOCOL_VERSION = "2025-06-18"
TOOLS = {
    "get_customer": ("Look up a customer record by id.", {"customer_id": {"type": "integer"}}),
    "refund_payment": ("Refund an order.", {"order_id": {"type": "string"}, "amount": {"type": "number"}}),
    "delete_user": ("Delete a user account.", {"user_id": {"type": "string"}}),
}


async def handle_mcp(request: web.Request) -> web.Response:
    try:
        message = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _reply(None, error={"code": -32700, "message": "parse error"})
    if not isinstance(message, dict) or "method" not in message:
        return _reply(None, error={"code": -32600, "message": "invalid request"})
    if "id" not in message:
        return web.Response(status=202)  # a notification
    method, params = message["method"], message.get("params") or {}
    if method == "initialize":
        return _reply(message["id"], {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "chaperone-demo-tools", "version": "1"},
        })  # fmt: skip
    if method == "tools/list":
        tools = [
            {"name": name, "description": text, "inputSchema": {"type": "object", "properties": props}}
            for name, (text, props) in TOOLS.items()
        ]
        return _reply(message["id"], {"tools": tools})
    if method == "tools/call" and params.get("name") in TOOLS:
        text = f"demo: {params['name']} done with {orjson.dumps(params.get('arguments') or {}).decode()}"
        return _reply(message["id"], {"content": [{"type": "text", "text": text}], "isError": False})
    return _reply(message["id"], error={"code": -32601, "message": f"unknown method {method}"})


def _reply(request_id: Any, result: Any = None, *, error: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    body.update({"error": error} if error is not None else {"result": result})
    return web.json_response(body)
