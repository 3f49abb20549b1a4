"""The MCP server container of the ingress pod, for the pod test: a real MCP server (the `mcp` SDK)
with the tools the ingress policy names and one it does not, listening where the container's
HOST and PORT say.

It refuses (401) any request whose Authorization is not the credential Chaperone brokers, and any
that still carries a caller's key (x-api-key), so a tool's answer shows that the caller's key was
removed and the server's own credential set.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.responses import JSONResponse

Scope = dict[str, Any]


def build_server() -> MCPServer:
    server = MCPServer("ingress-pod-tools")

    @server.tool(description="Search the documentation.")
    def search_docs(query: str) -> str:
        return f"3 pages about {query}."

    @server.tool(description="The weather in a city.")
    def get_weather(city: str) -> str:
        return f"Sunny in {city}."

    @server.tool(description="Delete a repository.")
    def delete_repo(name: str) -> str:
        return f"Deleted {name}."

    return server


class RequireCredential:
    def __init__(self, app: Any, authorization: str) -> None:
        self.app = app
        self.authorization = authorization.encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != self.authorization or b"x-api-key" in headers:
                response = JSONResponse({"error": "unexpected credential"}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--authorization", required=True, help="the Authorization value Chaperone must set")
    args = parser.parse_args()
    app = RequireCredential(build_server().streamable_http_app(), args.authorization)
    uvicorn.run(
        app, host=os.environ["HOST"], port=int(os.environ["PORT"]), log_level="warning", lifespan="on"
    )


if __name__ == "__main__":
    main()
