"""The internet, for the pod test: an HTTPS stand-in for the LLM APIs, inside the pod's namespace.

It serves the demo upstream (an OpenAI-compatible chat endpoint) with a certificate for the real
host names, and refuses (421) any request whose TLS server name, Host header or credential is not
what Envoy must send: the name the request went to, and the key from the upstream's Secret.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ext_proc.demo.upstream import create_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build(expected: dict[str, str], server_names: dict[int, str]) -> web.Application:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        server_name = server_names.get(id(ssl_object), "")
        problems = []
        if server_name not in expected:
            problems.append(f"TLS server name {server_name!r}")
        if request.host != server_name:
            problems.append(f"Host {request.host!r}")
        if (
            request.headers.get(expected.get(server_name, "authorization").split("=", 1)[0])
            != (expected.get(server_name, "=").split("=", 1)[1])
        ):
            problems.append("credential")
        if problems:
            return web.json_response({"error": {"message": "unexpected " + ", ".join(problems)}}, status=421)
        response = await handler(request)
        response.headers["x-upstream-server-name"] = server_name
        return response

    app = create_app()
    app.middlewares.append(check)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=443)
    # host=header=value: what Envoy must send to that host, e.g. api.openai.com=authorization=Bearer k
    parser.add_argument("--expect", action="append", default=[])
    args = parser.parse_args()
    expected = dict(item.split("=", 1) for item in args.expect)
    server_names: dict[int, str] = {}

    def remember(ssl_object: Any, name: str | None, _context: ssl.SSLContext) -> None:
        server_names[id(ssl_object)] = name or ""

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    context.sni_callback = remember
    web.run_app(
        build(expected, server_names), host="127.0.0.1", port=args.port, ssl_context=context, print=None
    )


if __name__ == "__main__":
    main()
