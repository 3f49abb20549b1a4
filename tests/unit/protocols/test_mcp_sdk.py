"""The real MCP SDK client, through a gateway built on this package, to a real MCP server.

``Gateway`` is a stand-in for the ext_proc integration, in process (ASGI) so that it needs no
Envoy: per HTTP exchange it detects MCP, puts each call to the Rego policy, denies with
``mcp.denied_response``, pins arguments, and on the way back filters ``tools/list`` with the
same policy and redacts card numbers in every text, for JSON and SSE responses alike. The
client is the SDK's own ``mcp.Client`` over Streamable HTTP, in the handshake era
("legacy", 2025-11-25) and the per-request era ("auto", 2026-07-28): if it accepts what the
gateway sends, the protocol layer's output is valid where it matters.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import orjson
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer

from ext_proc.protocols import jsonrpc, mcp
from ext_proc.protocols import mcp_results as results
from ext_proc.protocols.detect import detect
from tests.unit.protocols.helpers import Event, encode_event, events_in, policy_allows

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CARD = re.compile(r"\b(?:\d{4} ){3}\d{4}\b")
URL = "http://127.0.0.1:8000/mcp"  # the server's DNS-rebinding guard wants a loopback host


def payments_server() -> MCPServer:
    server = MCPServer("payments")

    @server.tool()
    def get_payment(payment_id: str) -> str:
        """Look up a payment by its id."""
        return f"{payment_id}: 12.50 EUR paid with card 4111 1111 1111 1111"

    @server.tool()
    def refund_payment(payment_id: str, amount: int, dry_run: bool = False) -> str:
        """Refund all or part of a payment."""
        return f"refund of {amount} on {payment_id}, dry_run={dry_run}"

    @server.tool()
    def delete_customer(customer_id: str) -> str:
        """Delete a customer and all of their data."""
        return f"deleted {customer_id}"

    return server


class Gateway:
    def __init__(self, app: App, *, pinned: dict[str, dict[str, Any]], as_tool_result: bool = False) -> None:
        self.app = app
        self.pinned = pinned
        self.as_tool_result = as_tool_result
        self.actions: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        body = await _read_body(receive)
        parsed = orjson.loads(body) if body else None
        if not body or detect(scope["method"], scope["path"], headers, parsed) != "mcp":
            await self.app(scope, _replay(body), send)
            return
        request = mcp.parse_request_body(parsed)
        session_id = headers.get(mcp.SESSION_HEADER)
        for call in request.calls:
            action = mcp.action(call, session_id, batch=request.batch)
            self.actions.append(action)
            if not policy_allows(action):
                reply = mcp.denied_response(
                    request,
                    f"{call.method} denied by policy",
                    {"decision_id": "d-1"},
                    as_tool_result=self.as_tool_result,
                )
                await _respond(
                    send,
                    reply.status,
                    [] if reply.content_type is None else [(b"content-type", reply.content_type.encode())],
                    reply.body,
                )
                return
        pending = mcp.PendingCalls()
        pending.add(request)
        status, response_headers, response_body = await _forward(self.app, scope, self._pinned_body(request))
        content_type = dict(response_headers).get(b"content-type", b"").decode()
        if content_type.startswith("application/json") and response_body:
            response_body = jsonrpc.dumps(
                self._rewrite_body(jsonrpc.loads(response_body), pending, session_id)
            )
        elif content_type.startswith("text/event-stream"):
            response_body = b"".join(
                self._rewrite_event(event, pending, session_id) for event in events_in([response_body])
            )
        kept = [(name, value) for name, value in response_headers if name != b"content-length"]
        await _respond(send, status, kept, response_body)

    def _pinned_body(self, request: mcp.McpRequestBody) -> bytes:
        messages = []
        for call in request.calls:
            message = call.raw
            if call.tool in self.pinned:
                message = {**message, "params": mcp.pin_arguments(call.params, self.pinned[call.tool])}
            messages.append(message)
        return jsonrpc.dumps(messages if request.batch else messages[0])

    def _rewrite_body(self, body: jsonrpc.Body, pending: mcp.PendingCalls, session_id: str | None) -> Any:
        messages = [self._rewrite(message, pending, session_id) for message in body.messages]
        return messages if body.batch else messages[0]

    def _rewrite_event(self, event: Event, pending: mcp.PendingCalls, session_id: str | None) -> bytes:
        body = results.parse_event_data(event.data)
        if body is None:
            return encode_event(event)
        data = jsonrpc.dumps(self._rewrite_body(body, pending, session_id)).decode()
        return encode_event(Event(data, event.id, event.event))

    def _rewrite(
        self, message: jsonrpc.Message, pending: mcp.PendingCalls, session_id: str | None
    ) -> dict[str, Any]:
        raw: dict[str, Any] = message.raw
        call = pending.match(message)
        method = call.method if call else None
        if method == mcp.TOOLS_LIST and isinstance(message, jsonrpc.Response):
            raw = results.filter_tools_list(
                raw, lambda tool: policy_allows(mcp.listing_action(tool, session_id))
            )
        for text in results.texts(raw, method):
            redacted = CARD.sub("[CARD]", text.text)
            if redacted != text.text:
                raw = results.rewrite_text(raw, text.path, redacted)
        return raw


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if sent:
            await anyio.sleep_forever()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _forward(app: App, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    headers = [(n, v) for n, v in scope["headers"] if n.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await app({**scope, "headers": headers}, _replay(body), capture)
    return int(start["status"]), list(start.get("headers", [])), b"".join(chunks)


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def connected(gateway: Gateway, server: MCPServer, mode: str) -> AsyncIterator[Client]:
    with anyio.fail_after(30):
        async with (
            server.session_manager.run(),
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway)) as http,
            Client(streamable_http_client(URL, http_client=http), mode=mode) as client,
        ):
            yield client


MODES = [("legacy", True), ("legacy", False), ("auto", True), ("auto", False)]


@pytest.mark.parametrize(("mode", "json_response"), MODES)
async def test_policy_filtering_denial_pinning_and_redaction_through_the_sdk(
    mode: str, json_response: bool
) -> None:
    server = payments_server()
    gateway = Gateway(
        server.streamable_http_app(json_response=json_response), pinned={"refund_payment": {"dry_run": True}}
    )
    async with connected(gateway, server, mode) as client:
        listed = await client.list_tools()
        assert [tool.name for tool in listed.tools] == ["get_payment", "refund_payment"]

        with pytest.raises(MCPError) as denied:
            await client.call_tool("delete_customer", {"customer_id": "c_1"})
        assert (denied.value.error.code, denied.value.error.message) == (
            -32019,
            "tools/call denied by policy",
        )
        assert denied.value.error.data == {"decision_id": "d-1"}

        refund = await client.call_tool("refund_payment", {"payment_id": "pay_1", "amount": 500})
        assert refund.content[0].text == "refund of 500 on pay_1, dry_run=True"  # type: ignore[union-attr]

        payment = await client.call_tool("get_payment", {"payment_id": "pay_1"})
        assert payment.content[0].text == "pay_1: 12.50 EUR paid with card [CARD]"  # type: ignore[union-attr]

    calls = [a for a in gateway.actions if a["method"] == "tools/call"]
    assert [(a["tool"], a["arguments"]) for a in calls] == [
        ("delete_customer", {"customer_id": "c_1"}),
        ("refund_payment", {"payment_id": "pay_1", "amount": 500}),
        ("get_payment", {"payment_id": "pay_1"}),
    ]
    if mode == "legacy":  # the handshake era has sessions; 2026-07-28 is stateless
        assert calls[0]["session_id"]
        assert {a["session_id"] for a in calls} == {calls[0]["session_id"]}
    else:
        assert calls[0]["protocol_version"] == "2026-07-28"


async def test_a_denial_as_a_tool_error_reaches_the_model_through_the_sdk() -> None:
    server = payments_server()
    gateway = Gateway(server.streamable_http_app(), pinned={}, as_tool_result=True)
    async with connected(gateway, server, "legacy") as client:
        result = await client.call_tool("delete_customer", {"customer_id": "c_1"})
        assert result.is_error
        assert result.content[0].text == "tools/call denied by policy"  # type: ignore[union-attr]
