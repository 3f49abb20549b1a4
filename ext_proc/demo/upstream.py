"""A small local upstream: an OpenAI-compatible chat endpoint (JSON or SSE) and an echo endpoint.

It stands in for a paid LLM API in the demo and in tests. The chat answer is synthetic: a fixed
greeting plus the last user message, streamed word by word when the request asks for it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

DEFAULT_PORT = 8080
STREAM_DELAY_SECONDS = 0.02


def create_app() -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_get("/health", _health)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_route("*", "/echo/{tail:.*}", _echo)
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


def answer_text(payload: dict[str, Any]) -> str:
    said = ""
    for message in reversed(payload.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            said = content if isinstance(content, str) else ""
            break
    return f"Hello from the demo upstream ({payload.get('model', 'unknown')}). You said: {said}"


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    try:
        payload = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return web.json_response(
            {"error": {"message": "invalid JSON", "type": "invalid_request_error"}}, status=400
        )
    text = answer_text(payload)
    model = payload.get("model", "demo-model")
    completion_id = f"chatcmpl-demo-{time.monotonic_ns()}"
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": len(text.split()),
        "total_tokens": 12 + len(text.split()),
    }
    if not payload.get("stream"):
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": usage,
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)

    async def send(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

    await send({"role": "assistant", "content": ""})
    words = text.split(" ")
    for i, word in enumerate(words):
        await asyncio.sleep(STREAM_DELAY_SECONDS)
        await send({"content": word if i == 0 else " " + word})
    await send({}, "stop")
    if (payload.get("stream_options") or {}).get("include_usage"):
        chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [],
            "usage": usage,
        }
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Chaperone's demo upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
