"""End to end: an agent's MCP tool call goes through Envoy, the policy wants it approved, the
call waits, and an operator releases it (or refuses it) from the console in real Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from mcp.shared.exceptions import MCPError
from playwright.async_api import BrowserContext, Page, expect

from tests.harness import Stack, copy_policies, start_stack
from tests.mcp_server import McpServerThread, call_tool

TOKEN = "tok-olivia"
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.envoy]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("console-approvals")
    (workdir / "tokens").write_text(f"olivia {TOKEN}\n")
    sections = {"admin": {"token_file": str(workdir / "tokens")}, "approvals": {"hold_seconds": 60}}
    server = McpServerThread().start()
    try:
        policies = copy_policies("approvals", workdir / "policies")
        yield from start_stack(workdir, policies, server, service_sections=sections)  # type: ignore[arg-type]
    finally:
        server.stop()


async def signed_in(browser: BrowserContext, stack: Stack) -> Page:
    page = await browser.new_page()
    await page.goto(f"{stack.service.admin_url}/console")
    await page.fill("#token", TOKEN)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#main")).to_be_visible()
    return page


async def test_an_operator_releases_a_held_tool_call_from_the_console(
    stack: Stack, browser: BrowserContext
) -> None:
    call = asyncio.create_task(
        call_tool(f"{stack.url}/mcp", "refund_payment", {"order_id": "o-5", "amount": 750})
    )
    page = await signed_in(browser, stack)
    row = page.locator("#approvals tbody tr", has_text="refund of 750")
    await expect(row).to_be_visible(timeout=15_000)
    await expect(row).to_contain_text("refund_payment")
    await expect(row).to_contain_text("finance")
    assert not call.done(), "the agent's call is still waiting"
    await row.locator("input").fill("customer called")
    await row.get_by_role("button", name="Approve").click()
    result = await asyncio.wait_for(call, 15)
    assert not isinstance(result, MCPError) and result.content[0].text == "Refunded 750.00 on order o-5."
    await expect(row).to_have_count(0)
    await page.close()
    decided = [e for e in stack.service.log_events() if e.get("event") == "approval_decided"]
    assert [(e["operator"], e["outcome"]) for e in decided] == [("olivia", "approved")]


async def test_an_operator_refuses_a_held_tool_call_from_the_console(
    stack: Stack, browser: BrowserContext
) -> None:
    call = asyncio.create_task(
        call_tool(f"{stack.url}/mcp", "refund_payment", {"order_id": "o-6", "amount": 9000})
    )
    page = await signed_in(browser, stack)
    row = page.locator("#approvals tbody tr", has_text="refund of 9000")
    await expect(row).to_be_visible(timeout=15_000)
    await row.get_by_role("button", name="Deny").click()
    refused = await asyncio.wait_for(call, 15)
    assert isinstance(refused, MCPError) and refused.error.data["code"] == "approval_denied"
    await page.close()
