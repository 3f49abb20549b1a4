"""The operator console in real headless Chromium (Debian's, driven by Playwright), against a real
admin app whose approvals and kill-switch routes are in-memory stand-ins for the real ones."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, ConsoleMessage, Page, async_playwright, expect

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.console import console_routes
from ext_proc.admin.decisions import decisions_routes
from ext_proc.audit import AuditLog, DecisionFeed, RequestSummary
from tests.oversight_fakes import MemoryApprovals, MemoryKillSwitch, http_routes
from tests.unit.audit.helpers import outcome

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "tok-alice"
pytestmark = pytest.mark.asyncio(loop_scope="module")
MARKUP = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>'


@dataclass
class Console:
    url: str
    page: Page
    approvals: MemoryApprovals
    kill_switch: MemoryKillSwitch
    audit: AuditLog
    errors: list[str] = field(default_factory=list)

    async def open(self, token: str = TOKEN) -> None:
        await self.page.goto(f"{self.url}/console")
        await self.page.fill("#token", token)
        await self.page.click("#login-form button[type=submit]")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """One Chromium for the module (a launch takes about a second); a fresh page per test."""
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError("chromium is not installed: `make test` installs it (Debian package)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield context
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def console(tmp_path: Path, browser: BrowserContext) -> AsyncIterator[Console]:
    (tmp_path / "tokens").write_text(f"alice {TOKEN}\n")
    approvals, kill_switch, feed = MemoryApprovals(), MemoryKillSwitch(), DecisionFeed()
    app = build_admin_app(
        lambda: True,
        str(tmp_path / "tokens"),
        [http_routes(approvals, kill_switch), decisions_routes(feed), console_routes()],
    )
    async with TestServer(app, host="127.0.0.1") as server:
        page = await browser.new_page()
        console = Console(
            str(server.make_url("")).rstrip("/"), page, approvals, kill_switch, AuditLog([], feed=feed)
        )

        def on_console(message: ConsoleMessage) -> None:
            # A refused token is a 401 the page handles; anything else is a fault (CSP included).
            if message.type == "error" and "status of 401" not in message.text:
                console.errors.append(message.text)

        page.on("console", on_console)
        try:
            yield console
        finally:
            await page.close()
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
    console.approvals.hold("a1")
    console.approvals.hold("a2", agent="agent-9", action={"protocol": "llm", "model": "gpt-4o"})
    await console.open()
    rows = console.page.locator("#approvals tbody tr")
    await expect(rows).to_have_count(2)
    first = console.page.locator("#approvals tbody tr[data-id='a1']")
    await expect(first).to_contain_text("mcp tools/call refund_payment")
    await expect(first).to_contain_text("refunds over 500 need approval")
    await first.locator("input").fill("checked with finance")
    await first.get_by_role("button", name="Approve").click()
    await expect(first).to_have_count(0)
    record = console.approvals.records["a1"]
    assert (record.status, record.decided_by, record.comment) == ("approved", "alice", "checked with finance")
    await console.page.locator("#approvals tbody tr[data-id='a2']").get_by_role("button", name="Deny").click()
    await expect(rows).to_have_count(0)
    await expect(console.page.locator("#approvals-empty")).to_be_visible()
    assert console.approvals.records["a2"].status == "denied"


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
    kill = console.kill_switch.kills[("tool", "refund_payment")]
    assert (kill.reason, kill.actor) == ("incident 42", "alice")
    await row.get_by_role("button", name="Release").click()
    await expect(page.locator("#kills tbody tr")).to_have_count(0)
    assert not console.kill_switch.kills


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
    console.approvals.hold("x1", agent=MARKUP, reason=MARKUP, action={"tool": MARKUP})
    await console.kill_switch.engage("agent", MARKUP, MARKUP, "alice")
    await console.open()
    page = console.page
    row = page.locator("#approvals tbody tr[data-id='x1']")
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
