"""The console as a person uses it: Debian's Chromium driven by Playwright, a real
`callgate run --listen` in front of the demo server, and the official SDK as the agent.

Chromium must be at /usr/bin/chromium (`.ci/install-chromium.sh`); Playwright never
downloads a browser here, and a missing one fails these tests. Screenshots of every page,
wide and narrow, go to `artifacts/console/`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from tests.approvals.proxied import text_of
from tests.console.helpers import (
    ADMIN_TOKEN,
    Proxy,
    agent,
    audited,
    in_background,
    next_pending,
    prepare,
    proxy_running,
)
from tests.fixtures.servers.commands import ROOT

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "console"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 420, "height": 800}
MALICIOUS = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Browser, viewport: dict[str, int] = WIDE) -> Page:
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    return await context.new_page()


async def log_in(page: Page, proxy: Proxy, token: str = ADMIN_TOKEN, name: str = "alice") -> None:
    await page.goto(f"{proxy.console}/login")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Log in").click()


@asynccontextmanager
async def console_page(tmp_path: Path, browser: Browser) -> AsyncIterator[tuple[Proxy, Page]]:
    """A proxy in front of the demo server and a browser page logged in to its console."""
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(90):
        page = await open_page(browser)
        await log_in(page, proxy)
        yield proxy, page


async def shoot(page: Page, name: str) -> None:
    """Save the page at 1280x800 and in a 420-wide window."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size(WIDE)  # type: ignore[arg-type]
    await page.screenshot(path=str(SHOTS / f"{name}-1280.png"), full_page=True)
    await page.set_viewport_size(NARROW)  # type: ignore[arg-type]
    await page.screenshot(path=str(SHOTS / f"{name}-420.png"), full_page=True)
    await page.set_viewport_size(WIDE)  # type: ignore[arg-type]


@pytest.mark.parametrize("verdict", ["approve", "deny"])
async def test_an_operator_answers_a_held_call_that_appears_without_reloading(
    tmp_path: Path, browser: Browser, verdict: str
) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(90):
        page = await open_page(browser)
        await log_in(page, proxy)
        await expect(page.get_by_text("Nothing waits for approval")).to_be_visible()
        await expect(page).to_have_title("Approvals · callgate")
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        async with agent(proxy) as client, anyio.create_task_group() as group:
            arguments = {"order_id": "ord-4711", "amount": 4000, "currency": "EUR"}
            results = in_background(group, client, "issue_refund", arguments)
            card = page.locator("article.approval.waiting")
            await expect(card).to_be_visible(timeout=10_000)
            assert navigations == []  # it arrived over SSE: the page was not reloaded
            await expect(page).to_have_title("(1) Approvals · callgate")
            shown = await card.locator("table.arguments").inner_text()
            assert "ord-4711" in shown and "4000" in shown and "EUR" in shown
            await expect(card.get_by_text("refunds-over-100")).to_be_visible()
            await expect(card.get_by_text("financial · critical")).to_be_visible()
            if verdict == "approve":
                await shoot(page, "approvals")
                await card.get_by_role("button", name="Approve once").click()
                await expect(page.get_by_text("You approved this request")).to_be_visible()
            else:
                await card.get_by_label("reason for denying").fill("refunds over 1000 need finance")
                await card.get_by_role("button", name="Deny").click()
                await expect(page.get_by_text("You denied this request")).to_be_visible()
                await shoot(page, "approvals-denied")
        result = text_of(results[0])
        if verdict == "approve":
            assert result == "refunded 4000.00 EUR for order ord-4711"
        else:
            assert result.startswith("[callgate] denied by rule")
            assert "denied by alice via console: refunds over 1000 need finance" in result
        await expect(page).to_have_title("Approvals · callgate")


async def test_the_decisions_stream_shows_a_denial_within_two_seconds(
    tmp_path: Path, browser: Browser
) -> None:
    async with console_page(tmp_path, browser) as (proxy, page), agent(proxy) as client:
        await client.call_tool("read_record", {"record_id": "r-1"})
        await audited(proxy, 1)
        await page.goto(f"{proxy.console}/decisions")
        await expect(page.locator("#decisions tr")).to_have_count(1)
        await client.call_tool("delete_record", {"record_id": "r-2"})
        answered = time.monotonic()
        row = page.locator("#decisions tr", has_text="delete_record")
        await expect(row).to_be_visible(timeout=2000)
        assert time.monotonic() - answered < 2.0
        await expect(row.get_by_text("no-deletes")).to_be_visible()
        await expect(row.locator(".dec-deny")).to_have_text("deny")
        await shoot(page, "decisions")
        await row.get_by_role("link", name="delete_record").click()
        await expect(page.locator("pre.record")).to_contain_text('"decision": "deny"')
        await shoot(page, "record")


async def test_audit_search_finds_a_call_by_tool_and_says_the_log_verifies(
    tmp_path: Path, browser: Browser
) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(90):
        async with agent(proxy) as client:
            await client.call_tool("read_record", {"record_id": "r-1"})
            await client.call_tool("run_command", {"command": "rm -rf /"})
            await client.call_tool("write_record", {"record_id": "r-3", "status": "archived"})
        await audited(proxy, 3)
        page = await open_page(browser)
        await log_in(page, proxy)
        await page.goto(f"{proxy.console}/audit")
        await expect(page.locator("#verification")).to_contain_text("The log verifies")
        await page.get_by_label("Tool").fill("run_command")
        await page.get_by_role("button", name="Search").click()
        results = page.locator("#results tbody tr")
        await expect(results).to_have_count(1)
        await expect(results).to_contain_text("safe-commands-only")
        await expect(page.get_by_role("link", name="CSV")).to_be_visible()
        await shoot(page, "audit")


async def test_a_malicious_argument_renders_as_text(tmp_path: Path, browser: Browser) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(90):
        page = await open_page(browser)
        await log_in(page, proxy)
        async with agent(proxy) as client, anyio.create_task_group() as group:
            arguments = {"order_id": MALICIOUS, "amount": 150}
            in_background(group, client, "issue_refund", arguments)
            await next_pending(proxy)
            card = page.locator("article.approval.waiting")
            await expect(card).to_be_visible(timeout=10_000)  # arrived over SSE
            shown = json.dumps(MALICIOUS)  # a string argument is shown as JSON text
            await expect(card.locator("table.arguments")).to_contain_text(shown)
            await page.reload()
            await expect(page.locator("table.arguments")).to_contain_text(shown)
            assert await page.evaluate("window.pwned") is None
            assert await page.locator("article img").count() == 0
            await page.get_by_label("reason for denying").fill("looks like an attack")
            await page.get_by_role("button", name="Deny").click()
            await expect(page.get_by_text("You denied this request")).to_be_visible()


async def test_a_wrong_token_cannot_log_in(tmp_path: Path, browser: Browser) -> None:
    with proxy_running(prepare(tmp_path)) as proxy, anyio.fail_after(60):
        page = await open_page(browser)
        await log_in(page, proxy, token="guessed-token")
        await expect(page.get_by_role("alert")).to_have_text("Wrong admin token.")
        await shoot(page, "login-refused")
        await page.goto(f"{proxy.console}/approvals")
        assert page.url.endswith("/console/login")
        cookies = await page.context.cookies()
        assert not [c for c in cookies if c["name"] == "callgate_console"]


async def test_a_post_without_the_csrf_token_is_refused(tmp_path: Path, browser: Browser) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(90):
        page = await open_page(browser)
        await log_in(page, proxy)
        async with agent(proxy) as client, anyio.create_task_group() as group:
            in_background(group, client, "issue_refund", {"order_id": "o-9", "amount": 700})
            [pending] = await next_pending(proxy)
            await expect(page.locator("article.approval.waiting")).to_be_visible(timeout=10_000)
            status = await page.evaluate(
                """async (url) => {
                    const body = new URLSearchParams({action: "once"});
                    const answer = await fetch(url, {method: "POST", body});
                    return answer.status;
                }""",
                f"{proxy.console}/approvals/{pending.id}/decide",
            )
            assert status == 403
            [still] = await next_pending(proxy)
            assert still.id == pending.id
            cookie = next(
                c for c in await page.context.cookies() if c["name"] == "callgate_console"
            )
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Strict"
            assert await page.evaluate("document.cookie") == ""
            await page.get_by_role("button", name="Approve for this session").click()
            await expect(page.get_by_text("You approved this request")).to_be_visible()


async def test_screenshots_of_every_page(tmp_path: Path, browser: Browser) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(120):
        async with agent(proxy) as client:
            await client.list_tools()
            for record in ("r-1", "r-2", "r-3", "r-1"):
                await client.call_tool("read_record", {"record_id": record})
            await client.call_tool("delete_record", {"record_id": "r-1"})
            await client.call_tool("run_command", {"command": "cat /etc/shadow"})
        await audited(proxy, 6)
        page = await open_page(browser)
        await page.goto(f"{proxy.console}/login")
        await shoot(page, "login")
        await log_in(page, proxy)
        await expect(page.get_by_text("Nothing waits for approval")).to_be_visible()
        await shoot(page, "approvals-empty")
        await page.goto(f"{proxy.console}/tools")
        await page.locator("details.toolcard summary").first.click()
        await expect(page.locator(".cardbody").first).to_be_visible()
        await shoot(page, "tools")
        await page.goto(f"{proxy.console}/limits")
        await expect(page.get_by_text("3 / 3")).to_be_visible()
        await shoot(page, "limits")
        await page.goto(f"{proxy.console}/policy")
        await expect(page.get_by_text("✓ Valid.")).to_be_visible()
        await shoot(page, "policy")
        proxy.policy.write_text(proxy.policy.read_text().replace("max: 3", "max: three"))
        await page.reload()
        await expect(page.locator("section.failed")).to_be_visible()
        await shoot(page, "policy-failed")


async def test_the_first_answer_wins_and_the_others_see_who_gave_it(
    tmp_path: Path, browser: Browser
) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(90):
        alice, bob, carol = [await open_page(browser) for _ in range(3)]
        # Bob's page hears no events: his click is the late one the server must refuse.
        await bob.route("**/events/**", lambda route: route.abort())
        for page, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            await log_in(page, proxy, name=name)
        async with agent(proxy) as client, anyio.create_task_group() as group:
            results = in_background(group, client, "issue_refund", {"order_id": "x", "amount": 600})
            await next_pending(proxy)
            await expect(alice.locator("article.approval.waiting")).to_be_visible(timeout=10_000)
            await expect(carol.locator("article.approval.waiting")).to_be_visible(timeout=10_000)
            await bob.reload()
            await expect(bob.locator("article.approval.waiting")).to_be_visible()
            await alice.get_by_role("button", name="Approve once").click()
            await expect(alice.get_by_text("You approved this request")).to_be_visible()
            # Carol's card changes in place; Bob's late denial is refused with who answered.
            await expect(carol.get_by_text("Already approved by alice via console")).to_be_visible()
            await bob.get_by_label("reason for denying").fill("too late")
            await bob.get_by_role("button", name="Deny").click()
            await expect(bob.get_by_text("Already approved by alice via console")).to_be_visible()
            await shoot(bob, "approvals-second-answer")
        assert text_of(results[0]) == "refunded 600.00 EUR for order x"


async def test_a_decision_written_before_the_stream_opened_still_appears_once(
    tmp_path: Path, browser: Browser
) -> None:
    opened = anyio.Event()

    async def hold_the_stream(route: Route) -> None:
        await opened.wait()
        await route.continue_()

    async with console_page(tmp_path, browser) as (proxy, page), agent(proxy) as client:
        await page.route("**/events/decisions**", hold_the_stream)
        await client.call_tool("read_record", {"record_id": "r-1"})
        await audited(proxy, 1)
        await page.goto(f"{proxy.console}/decisions")
        await expect(page.locator("#decisions tr")).to_have_count(1)
        # Decided after the page was made, before its stream opened.
        await client.call_tool("delete_record", {"record_id": "r-2"})
        await audited(proxy, 2)
        opened.set()
        rows = page.locator("#decisions tr")
        await expect(rows.first).to_contain_text("delete_record", timeout=5000)
        await expect(rows).to_have_count(2)  # the row shown already is not repeated
        await client.call_tool("write_record", {"record_id": "r-4", "status": "open"})
        await expect(rows.first).to_contain_text("write_record")
        await expect(rows).to_have_count(3)
