"""A small local upstream standing in for paid LLM APIs: OpenAI Chat Completions, OpenAI
Responses and Anthropic Messages (JSON or streamed as SSE), plus an echo endpoint and a small
MCP tool server at /mcp (tools.py).

The answer is synthetic: a greeting and the last user message. Tests steer it with headers
(Chaperone forwards them): `x-demo-reply` sets the answer text, `x-demo-tool-call: NAME {json}`
makes the model call a tool, `x-demo-delta-chars` sets the size of streamed text pieces and
`x-demo-delay-ms` the pause between stream events.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import string
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from aiohttp import web

from ext_proc.demo import providers
from ext_proc.demo.a2a_agent import handle_a2a
from ext_proc.demo.providers import Reply
from ext_proc.demo.tools import handle_mcp

DEFAULT_PORT = 8080
DEFAULT_DELAY_MS = 20


def create_app() -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_get("/health", _health)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_post("/v1/responses", _responses)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_route("*", "/echo/{tail:.*}", _echo)
    app.router.add_post("/mcp", handle_mcp)
    app.router.add_post("/a2a", handle_a2a)
    return app


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _models(_request: web.Request) -> web.Response:
    return web.json_response(
        {"object": "list", "data": [{"id": "demo-model", "object": "model", "owned_by": "chaperone-demo"}]}
    )


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": dict(request.headers),
            "body": body.decode("utf-8", "replace"),
        }
    )


def _text_of(content: Any) -> str:
    """The text of a message content: a string, or a list of text parts / blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def last_user_text(payload: dict[str, Any]) -> str:
    messages = payload.get("messages")
    if messages is None:  # Responses API
        messages = payload.get("input")
        if isinstance(messages, str):
            return messages
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def reply_for(request: web.Request, payload: dict[str, Any]) -> Reply:
    model = str(payload.get("model") or "demo-model")
    text = request.headers.get("x-demo-reply")
    if text is None:
        text = f"Hello from the demo upstream ({model}). You said: {last_user_text(payload)}"
    tool_name, tool_arguments = None, "{}"
    if "x-demo-tool-call" in request.headers:
        tool_name, _, tool_arguments = request.headers["x-demo-tool-call"].partition(" ")
        tool_arguments = tool_arguments or "{}"
    return Reply(
        model=model,
        text=text,
        tool_name=tool_name,
        tool_arguments=tool_arguments,
        delta_chars=int(request.headers.get("x-demo-delta-chars", "0")),
    )


async def _payload(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        payload = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return web.json_response(
            {"error": {"message": "invalid JSON", "type": "invalid_request_error"}}, status=400
        )
    if not isinstance(payload, dict):
        return web.json_response(
            {"error": {"message": "expected an object", "type": "invalid_request_error"}}, status=400
        )
    return payload


def received_headers(payload: dict[str, Any]) -> dict[str, str]:
    """What the upstream received, in response headers: lets a demo (or a test) see rewrites."""
    tools = payload.get("tools") or []
    names = [
        str(t.get("name") or (t.get("function") or {}).get("name") or "")
        for t in tools
        if isinstance(t, dict)
    ]
    limit = (
        payload.get("max_completion_tokens") or payload.get("max_tokens") or payload.get("max_output_tokens")
    )
    return {
        "x-demo-received-model": str(payload.get("model", "")),
        "x-demo-received-max-tokens": str(limit or ""),
        "x-demo-received-tools": ",".join(names),
    }


async def _stream(
    request: web.Request, events: Iterator[bytes], headers: dict[str, str]
) -> web.StreamResponse:
    delay = int(request.headers.get("x-demo-delay-ms", DEFAULT_DELAY_MS)) / 1000
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers}
    )
    await response.prepare(request)
    try:
        for event in events:
            await response.write(event)
            if delay:
                await asyncio.sleep(delay)
        await response.write_eof()
    except ConnectionResetError:
        # The client stopped reading (or Chaperone ended the stream): nothing left to send to.
        pass
    return response


def _handler(
    answer: Callable[[Reply, dict[str, Any]], dict[str, Any]],
    stream: Callable[[Reply, dict[str, Any]], Iterator[bytes]],
) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        payload = await _payload(request)
        if isinstance(payload, web.Response):
            return payload
        reply = reply_for(request, payload)
        headers = received_headers(payload)
        if payload.get("stream"):
            return await _stream(request, stream(reply, payload), headers)
        return web.json_response(
            answer(reply, payload), headers=headers, dumps=lambda v: orjson.dumps(v).decode()
        )

    return handle


# Letters and digits, as the providers' ids are. A clock reading would be a long run of digits,
# which passes a card number's check one time in ten and is then redacted in the answer.
_ID_ALPHABET = string.ascii_letters + string.digits


def _id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


_chat_completions = _handler(
    lambda reply, _p: providers.openai_chat_json(reply, _id("chatcmpl-demo-")),
    lambda reply, p: providers.openai_chat_stream(
        reply, _id("chatcmpl-demo-"), bool((p.get("stream_options") or {}).get("include_usage"))
    ),
)
_responses = _handler(
    lambda reply, _p: providers.openai_response_json(reply, _id("resp_demo_")),
    lambda reply, _p: providers.openai_response_stream(reply, _id("resp_demo_")),
)
_messages = _handler(
    lambda reply, _p: providers.anthropic_json(reply, _id("msg_demo_")),
    lambda reply, _p: providers.anthropic_stream(reply, _id("msg_demo_")),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Chaperone's demo upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
