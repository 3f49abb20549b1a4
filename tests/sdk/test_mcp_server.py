"""The test MCP server answers the real `mcp` client (directly, no proxy in between)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_server import CUSTOMER_RECORD, McpServerThread


@pytest.fixture(scope="module", params=[False, True], ids=["sse", "json"])
def mcp_url(request: pytest.FixtureRequest) -> Iterator[str]:
    server = McpServerThread(json_response=request.param).start()
    yield server.url
    server.stop()


async def test_tools_list_and_call(mcp_url: str) -> None:
    async with streamable_http_client(mcp_url) as streams, ClientSession(*streams[:2]) as session:
        await session.initialize()
        tools = await session.list_tools()
        assert {t.name for t in tools.tools} >= {"get_customer", "refund_payment", "delete_user"}
        result = await session.call_tool("get_customer", {"customer_id": 42})
        assert result.content[0].text == CUSTOMER_RECORD  # type: ignore[union-attr]
