"""A calling agent, for the ingress pod test: the real MCP client, its key in x-api-key.

python -m tests.k8s.mcp_agent URL KEY prints what it saw as JSON: the tools it was shown, a
call of an allowed tool, and the refusal of a tool the policy does not allow.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError


async def session(url: str, key: str) -> dict[str, Any]:
    async with (
        create_mcp_http_client(headers={"x-api-key": key}) as http,
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(*streams[:2]) as client,
    ):
        await client.initialize()
        tools = await client.list_tools()
        search = await client.call_tool("search_docs", {"query": "refunds"})
        try:
            await client.call_tool("delete_repo", {"name": "payments"})
            refused = None
        except MCPError as error:
            refused = error.error.message
        return {
            "tools": sorted(tool.name for tool in tools.tools),
            "search": search.content[0].text if not search.is_error else None,
            "refused": refused,
        }


def main() -> None:
    url, key = sys.argv[1], sys.argv[2]
    sys.stdout.write(orjson.dumps(asyncio.run(session(url, key))).decode() + "\n")


if __name__ == "__main__":
    main()
