"""Sessions through real Envoy with the real MCP client: a policy decides on what came before
in the agent's MCP session (``input.session``), and a new session starts clean."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.harness import Stack, copy_policies, start_stack
from tests.mcp_server import McpServerThread

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("sessions")
    server = McpServerThread().start()
    try:
        yield from start_stack(workdir, copy_policies("sessions", workdir / "policies"), server)  # type: ignore[arg-type]
    finally:
        server.stop()


async def test_what_a_session_read_decides_what_it_may_do_next(stack: Stack) -> None:
    async with streamable_http_client(f"{stack.url}/mcp") as streams, ClientSession(*streams[:2]) as session:
        await session.initialize()
        page = await session.call_tool("read_webpage", {"url": "https://example.com/faq"})
        assert not page.is_error
        record = await session.call_tool("get_customer", {"customer_id": 42})
        assert "[REDACTED:EMAIL]" in record.content[0].text  # the answer carried personal data
        with pytest.raises(MCPError, match="no web access after reading customer data"):
            await session.call_tool("read_webpage", {"url": "https://example.com/faq"})
    async with streamable_http_client(f"{stack.url}/mcp") as streams, ClientSession(*streams[:2]) as session:
        await session.initialize()
        fresh = await session.call_tool("read_webpage", {"url": "https://example.com/faq"})
        assert not fresh.is_error, "another session has its own history"


async def test_the_policy_sees_the_earlier_actions(stack: Stack) -> None:
    async with streamable_http_client(f"{stack.url}/mcp") as streams, ClientSession(*streams[:2]) as session:
        await session.initialize()
        assert not (await session.call_tool("run_query", {"sql": "select 1"})).is_error
        assert not (await session.call_tool("refund_payment", {"order_id": "o", "amount": 1})).is_error
        with pytest.raises(
            MCPError,
            match=r"a third tool call in one session \(after \[\"run_query\", \"refund_payment\"\]\)",
        ):
            await session.call_tool("run_query", {"sql": "select 2"})
