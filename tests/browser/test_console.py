"""The operator console in real headless Chromium (Debian's, driven by Playwright), against a real
admin app with the service's own approvals and kill-switch routes (their state in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, ConsoleMessage, Page, expect

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.console import console_routes
from ext_proc.admin.decisions import decisions_routes
from ext_proc.approvals import Approvals, build_approvals
from ext_proc.approvals.summary import action_summary
from ext_proc.audit import AuditLog, DecisionFeed, RequestSummary
from ext_proc.config import Config
from ext_proc.limits.factory import Limits, build_limits
from tests.unit.audit.helpers import outcome

TOKEN = "tok-alice"
pytestmark = pytest.mark.asyncio(loop_scope="module")
MARKUP = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>'
REFUND = {"protocol": "mcp", "method": "tools/call", "tool": "refund_payment"}


@dataclass
class Console:
    url: str
    page: Page
    approvals: Approvals
    limits: Limits
    audit: AuditLog
    feed: DecisionFeed
    errors: list[str] = field(default_factory=list)

    async def open(self, token: str = TOKEN) -> None:
        await self.page.goto(f"{self.url}/console")
        await self.page.fill("#token", token)
        await self.page.click("#login-form button[type=submit]")

    async def hold(
        self,
        agent: str = "agent-7",
        action: Mapping[str, str] = REFUND,
        reason: str = "refunds over 500 need approval",
    ) -> str:
        """A pending request, as a policy's require_approval makes one; its id is random."""
        approval = await self.approvals.store.create(
            agent=agent, action=action, reason=reason, ttl_seconds=300, group="payments"
        )
        return approval.id

    def operator_actions(self) -> list[tuple[str, str, str]]:
        return [
            (event["operation"], event["operator"], event["api"])
            for event in self.feed.recent(100)
            if event["event"] == "operator_action"
        ]


@pytest_asyncio.fixture(loop_scope="module")
async def console(tmp_path: Path, browser: BrowserContext) -> AsyncIterator[Console]:
    (tmp_path / "tokens").write_text(f"alice {TOKEN}\n")
    feed = DecisionFeed()
    audit = AuditLog([], feed=feed)
    # Wired as the service wires them (Enforcement.build), on the default configuration: no
    # state.redis_url, so the requests and the kills are in this process's memory.
    approvals = build_approvals(Config(), emit=audit.event)
    limits = build_limits(Config())
    routes = [approvals.admin_extension(), limits.admin_extension(audit), decisions_routes(feed)]
    app = build_admin_app(lambda: True, str(tmp_path / "tokens"), [*routes, console_routes()])
    async with TestServer(app, host="127.0.0.1") as server:
        page = await browser.new_page()
        console = Console(str(server.make_url("")).rstrip("/"), page, approvals, limits, audit, feed)

        def on_console(message: ConsoleMessage) -> None:
            # A refused token is a 401 the page handles; anything else is a fault (CSP included).
            if message.type == "error" and "status of 401" not in message.text:
                console.errors.append(message.text)

        page.on("console", on_console)
        try:
            yield console
        finally:
            await page.close()
            await limits.stop()
            await approvals.close()
    assert not console.errors, f"the page logged errors (a CSP violation?): {console.errors}"


async def test_the_token_is_asked_once_and_kept_for_the_tab(console: Console) -> None:
    page = console.page
    await page.goto(f"{console.url}/console")
    await expect(page.locator("#login")).to_be_visible()
    await console.open("wrong-token")
    await expect(page.locator("#login-error")).to_have_text("The token was refused.")
    await console.open()
    await expect(page.locator("#main")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('chaperone.operator-token')") == TOKEN
    await page.reload()
    await expect(page.locator("#main")).to_be_visible()
    await expect(page.locator("#login")).to_be_hidden()


async def test_approving_calls_the_api_with_the_token_and_the_row_disappears(console: Console) -> None:
    first_id = await console.hold()
    second_id = await console.hold(agent="agent-9", action={"protocol": "llm", "model": "gpt-4o"})
    await console.open()
    rows = console.page.locator("#approvals tbody tr")
    await expect(rows).to_have_count(2)
    first = console.page.locator(f"#approvals tbody tr[data-id='{first_id}']")
    await expect(first).to_contain_text("mcp tools/call refund_payment")
    await expect(first).to_contain_text("refunds over 500 need approval")
    await first.locator("input").fill("checked with finance")
    await first.get_by_role("button", name="Approve").click()
    await expect(first).to_have_count(0)
    approved = await console.approvals.store.get(first_id)
    assert approved is not None
    assert (approved.status, approved.decided_by, approved.comment) == (
        "approved",
        "alice",
        "checked with finance",
    )
    second = console.page.locator(f"#approvals tbody tr[data-id='{second_id}']")
    await second.get_by_role("button", name="Deny").click()
    await expect(rows).to_have_count(0)
    await expect(console.page.locator("#approvals-empty")).to_be_visible()
    denied = await console.approvals.store.get(second_id)
    assert denied is not None
    assert (denied.status, denied.decided_by) == ("denied", "alice")


async def test_the_kill_switch_engages_and_releases(console: Console) -> None:
    page = console.page
    await console.open()
    await page.select_option("#kill-scope", "tool")
    await page.fill("#kill-target", "refund_payment")
    await page.fill("#kill-reason", "incident 42")
    await page.get_by_role("button", name="Engage").click()
    row = page.locator("#kills tbody tr[data-scope='tool'][data-target='refund_payment']")
    await expect(row).to_contain_text("incident 42")
    await expect(row).to_contain_text("alice")
    # What the request path asks: a call to that tool is stopped, another tool's is not.
    kill = console.limits.kill_switch.blocked("agent-7", tool="refund_payment")
    assert kill is not None
    assert (kill.reason, kill.actor) == ("incident 42", "alice")
    assert console.limits.kill_switch.blocked("agent-7", tool="lookup_order") is None
    await row.get_by_role("button", name="Release").click()
    await expect(page.locator("#kills tbody tr")).to_have_count(0)
    assert not await console.limits.kill_switch.active()
    assert console.limits.kill_switch.blocked("agent-7", tool="refund_payment") is None
    assert console.operator_actions() == [
        ("kill_switch.engage", "alice", "http"),
        ("kill_switch.release", "alice", "http"),
    ]


async def test_a_decision_appears_in_the_live_view(console: Console) -> None:
    await console.open()
    await expect(console.page.locator("#feed-state")).to_have_text("(live)")
    console.audit.decision(
        decision_id="d-live",
        phase="request_body",
        request=RequestSummary.of("POST", "/v1/chat/completions", "api.example.com"),
        outcome=outcome(False, reasons=("model gpt-5 is not allowed",)),
        status=403,
        action={"protocol": "llm", "provider": "openai.chat", "model": "gpt-5"},
    )
    row = console.page.locator("#decisions tbody tr[data-decision-id='d-live']")
    await expect(row).to_contain_text("denied 403")
    await expect(row).to_contain_text("llm openai.chat gpt-5")
    await expect(row).to_contain_text("model gpt-5 is not allowed")


async def test_markup_in_the_data_is_shown_as_text(console: Console) -> None:
    approval_id = await console.hold(agent=MARKUP, reason=MARKUP, action={"tool": MARKUP})
    await console.limits.kill_switch.engage("agent", MARKUP, MARKUP, "alice")
    await console.open()
    page = console.page
    row = page.locator(f"#approvals tbody tr[data-id='{approval_id}']")
    await expect(row.locator("td").nth(1)).to_have_text(MARKUP)
    await expect(row.locator("td").nth(3)).to_have_text(MARKUP)
    await expect(page.locator("#kills tbody tr td").nth(1)).to_have_text(MARKUP)
    console.audit.decision(
        decision_id="d-x",
        phase="check",
        request=RequestSummary.of("GET", f"/{MARKUP}", "h"),
        outcome=outcome(False, reasons=(MARKUP,)),
        status=403,
    )
    await expect(page.locator("#decisions tbody tr[data-decision-id='d-x'] td").nth(5)).to_have_text(MARKUP)
    assert await page.evaluate("window.pwned") is None
    assert await page.evaluate("document.querySelectorAll('main script, main img, main b').length") == 0


async def test_a_pending_approval_shows_the_calls_arguments_redacted(console: Console) -> None:
    action = {**REFUND, "arguments": {"order_id": "o-17", "amount": 900, "note": "card 4111 1111 1111 1111"}}
    approval_id = await console.hold(action=action_summary(action))  # as the gate stores it
    await console.open()
    arguments = console.page.locator(f"#approvals tbody tr[data-id='{approval_id}'] .arguments")
    await expect(arguments).to_contain_text('"amount":900')
    await expect(arguments).to_contain_text('"order_id":"o-17"')
    await expect(arguments).not_to_contain_text("4111")


async def test_a_refused_mcp_call_answered_at_200_shows_as_denied(console: Console) -> None:
    await console.open()
    await expect(console.page.locator("#feed-state")).to_have_text("(live)")
    console.audit.decision(
        decision_id="d-mcp",
        phase="request_body",
        request=RequestSummary.of("POST", "/mcp", "tools.example.com"),
        outcome=outcome(False, reasons=('tool "delete_user" is not allowed',)),
        status=200,
        action={"protocol": "mcp", "method": "tools/call", "tool": "delete_user"},
    )
    row = console.page.locator("#decisions tbody tr[data-decision-id='d-mcp']")
    await expect(row).to_contain_text("denied (JSON-RPC error)")
    await expect(row).not_to_contain_text("denied 200")
