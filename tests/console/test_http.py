"""The console over HTTP, against a real `callgate run --listen` in front of the demo server
(and a real `callgate console` on its own): login, cookies, CSRF, escaping, redaction, the
first answer winning, and every page rendering the proxy's real store and audit log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.approvals.proxied import text_of
from tests.console.helpers import (
    ADMIN_TOKEN,
    EXTRA_POLICY,
    Proxy,
    agent,
    audited,
    console_running,
    csrf_of,
    demo_policy,
    in_background,
    log_in,
    next_pending,
    prepare,
    proxy_running,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SCRIPT = "<script>alert('x')</script>"


async def test_login_sets_a_strict_http_only_cookie_and_a_wrong_token_opens_nothing(
    tmp_path: Path,
) -> None:
    with proxy_running(prepare(tmp_path)) as proxy, anyio.fail_after(60):
        async with httpx2.AsyncClient(timeout=30) as http:
            page = await http.get(f"{proxy.console}/approvals")
            assert page.status_code == 303
            assert page.headers["location"] == "/console/login"
            wrong = await log_in(http, proxy.console, token="not-the-token")
            assert wrong.status_code == 401
            assert "Wrong admin token" in wrong.text
            assert "callgate_console=" not in wrong.headers.get("set-cookie", "")
            assert (await http.get(f"{proxy.console}/approvals")).status_code == 303
            good = await log_in(http, proxy.console)
            assert good.status_code == 303
            cookie = next(
                c for c in good.headers.get_list("set-cookie") if c.startswith("callgate_console=")
            )
            assert "HttpOnly" in cookie
            assert "SameSite=strict" in cookie
            assert "Path=/console" in cookie
            assert ADMIN_TOKEN not in str(good.headers.get("location"))
            inbox = await http.get(f"{proxy.console}/approvals")
            assert inbox.status_code == 200
            assert "Content-Security-Policy" in inbox.headers
            assert ADMIN_TOKEN not in inbox.text


async def test_a_login_post_without_the_form_nonce_is_refused(tmp_path: Path) -> None:
    with proxy_running(prepare(tmp_path)) as proxy, anyio.fail_after(60):
        async with httpx2.AsyncClient(timeout=30) as http:
            forged = await http.post(
                f"{proxy.console}/login", data={"name": "mallory", "token": ADMIN_TOKEN}
            )
            assert forged.status_code == 403
            assert "callgate_console=" not in forged.headers.get("set-cookie", "")


async def test_the_admin_bearer_token_and_an_agent_token_do_not_open_pages(
    tmp_path: Path,
) -> None:
    agent_token = "agent-token-abcdef"
    policy = demo_policy() + (
        "agents:\n"
        f"  - {{name: bot, token_sha256: {hashlib.sha256(agent_token.encode()).hexdigest()}}}\n"
    )
    with proxy_running(prepare(tmp_path, policy)) as proxy, anyio.fail_after(60):
        async with httpx2.AsyncClient(timeout=30) as http:
            for token in (ADMIN_TOKEN, agent_token):
                answer = await http.get(
                    f"{proxy.console}/approvals", headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 303  # to the login form: a bearer is no session
            assert (await log_in(http, proxy.console, token=agent_token)).status_code == 401


async def test_posts_without_the_csrf_token_are_refused(tmp_path: Path) -> None:
    proxy = prepare(tmp_path, demo_policy() + EXTRA_POLICY)
    with proxy_running(proxy), anyio.fail_after(90):
        async with agent(proxy) as client, anyio.create_task_group() as group:
            results = in_background(group, client, "issue_refund", _refund(500))
            [pending] = await next_pending(proxy)
            async with httpx2.AsyncClient(timeout=30) as http:
                await log_in(http, proxy.console)
                page = (await http.get(f"{proxy.console}/approvals")).text
                url = f"{proxy.console}/approvals/{pending.id}/decide"
                missing = await http.post(url, data={"action": "once"})
                assert missing.status_code == 403
                wrong = await http.post(url, data={"action": "once", "csrf": "forged"})
                assert wrong.status_code == 403
                header = await http.post(
                    url, data={"action": "once"}, headers={"X-CSRF-Token": "forged"}
                )
                assert header.status_code == 403
                [still] = await next_pending(proxy)
                assert still.id == pending.id  # nothing was decided
                logout = await http.post(f"{proxy.console}/logout")
                assert logout.status_code == 403
                denied = await http.post(
                    url,
                    data={"action": "deny", "reason": "not today", "csrf": csrf_of(page)},
                )
                assert denied.status_code == 303
        assert "denied by alice via console: not today" in text_of(results[0])


async def test_arguments_are_escaped_and_redacted_as_the_audit_log_keeps_them(
    tmp_path: Path,
) -> None:
    proxy = prepare(tmp_path)
    long_note = "x" * 400
    with proxy_running(proxy), anyio.fail_after(90):
        async with agent(proxy) as client, anyio.create_task_group() as group:
            arguments = {
                "order_id": SCRIPT,
                "amount": 900,
                "currency": "EUR",
                "api_key": "sk-live-very-secret",
                "note": f"Bearer abcdefghijklmnop {long_note}",
            }
            group.start_soon(client.call_tool, "issue_refund", arguments)
            [pending] = await next_pending(proxy)
            async with httpx2.AsyncClient(timeout=30) as http:
                await log_in(http, proxy.console)
                page = (await http.get(f"{proxy.console}/approvals")).text
                assert SCRIPT not in page
                assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
                assert "sk-live-very-secret" not in page
                assert "abcdefghijklmnop" not in page
                assert "[redacted]" in page
                # The long value is folded, and whole: never cut.
                assert "<details><summary>" in page
                assert long_note in page
                await http.post(
                    f"{proxy.console}/approvals/{pending.id}/decide",
                    data={"action": "deny", "reason": "test over", "csrf": csrf_of(page)},
                )
            group.cancel_scope.cancel()


async def test_the_first_answer_wins_and_the_second_operator_reads_who_answered(
    tmp_path: Path,
) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(90):
        async with agent(proxy) as client, anyio.create_task_group() as group:
            results = in_background(group, client, "issue_refund", _refund(250))
            [pending] = await next_pending(proxy)
            async with (
                httpx2.AsyncClient(timeout=30) as alice,
                httpx2.AsyncClient(timeout=30) as bob,
            ):
                await log_in(alice, proxy.console, name="alice")
                await log_in(bob, proxy.console, name="bob")
                alice_page = (await alice.get(f"{proxy.console}/approvals")).text
                bob_page = (await bob.get(f"{proxy.console}/approvals")).text
                url = f"{proxy.console}/approvals/{pending.id}/decide"
                first = await alice.post(
                    url,
                    data={"action": "session", "csrf": csrf_of(alice_page)},
                    headers={"HX-Request": "true"},
                )
                assert first.status_code == 200
                assert "You approved this request" in first.text
                second = await bob.post(
                    url,
                    data={"action": "deny", "reason": "no", "csrf": csrf_of(bob_page)},
                    headers={"HX-Request": "true"},
                )
                assert second.status_code == 409
                assert "Already " in second.text
                assert "by alice via console" in second.text
        assert text_of(results[0]) == "refunded 250.00 EUR for order o-1"


async def test_every_page_renders_the_proxys_real_store_and_audit_log(tmp_path: Path) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(120):
        async with agent(proxy) as client:
            await client.list_tools()
            await client.call_tool("read_record", {"record_id": "r-1"})
            for _ in range(3):
                await client.call_tool("read_record", {"record_id": "r-2"})  # 4th: rate limited
            await client.call_tool("delete_record", {"record_id": "r-1"})
            await audited(proxy, 5)
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "issue_refund", _refund(4000))
                await next_pending(proxy)
                async with httpx2.AsyncClient(timeout=30) as http:
                    await log_in(http, proxy.console)
                    await _check_pages(http, proxy)
                    page = (await http.get(f"{proxy.console}/approvals")).text
                    [pending] = await next_pending(proxy)
                    await http.post(
                        f"{proxy.console}/approvals/{pending.id}/decide",
                        data={"action": "once", "csrf": csrf_of(page)},
                    )


async def _check_pages(http: httpx2.AsyncClient, proxy: Proxy) -> None:
    console = proxy.console
    inbox = await http.get(f"{console}/approvals")
    assert inbox.status_code == 200
    assert '<title data-title="Approvals · callgate">(1) Approvals' in inbox.text
    assert "issue_refund" in inbox.text and "refunds-over-100" in inbox.text
    assert "financial · critical" in inbox.text
    assert "4000" in inbox.text
    assert "records are never deleted by agents" in inbox.text  # the agent's last calls

    decisions = await http.get(f"{console}/decisions", params={"decision": "deny"})
    assert decisions.status_code == 200
    assert "no-deletes" in decisions.text
    assert "reads-per-minute" not in decisions.text
    limited = await http.get(f"{console}/decisions", params={"decision": "rate_limited"})
    assert "reads-per-minute" in limited.text

    tools = await http.get(f"{console}/tools")
    assert tools.status_code == 200
    for name in ("issue_refund", "delete_record", "run_command", "read_record", "admin_reset"):
        assert name in tools.text
    assert "hidden" in tools.text
    assert "rule &#39;no-deletes&#39;" in tools.text  # what callgate explain says
    assert "Issue a refund" in tools.text  # the listed definition, not the name alone

    limits = await http.get(f"{console}/limits")
    assert limits.status_code == 200
    assert "refunds-per-day" in limits.text
    assert "3 / 3" in limits.text  # reads-per-minute, used up by the anonymous agent

    search = await http.get(f"{console}/audit", params={"tool": "delete_record"})
    assert search.status_code == 200
    assert "<strong>1</strong> record match" in search.text
    verify = await http.get(f"{console}/audit/verify")
    assert "The log verifies" in verify.text

    export = await http.get(f"{console}/audit/export", params={"tool": "read_record"})
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [r["decision"] for r in lines] == ["allow"] * 3 + ["rate_limited"]
    assert all(r["writer"] for r in lines)
    csv = await http.get(f"{console}/audit/export", params={"format": "csv", "tool": "read_*"})
    assert csv.text.splitlines()[0].startswith("time,server,session,agent,method,tool")
    assert len(csv.text.splitlines()) == 5

    row = next(r for r in lines if r["decision"] == "rate_limited")
    record = await http.get(f"{console}/record", params={"seq": row["seq"], "time": row["time"]})
    assert record.status_code == 200
    assert "reads-per-minute" in record.text

    policy = await http.get(f"{console}/policy")
    assert policy.status_code == 200
    assert "✓ Valid." in policy.text and "refunds-over-100" in policy.text


async def test_a_failed_reload_shows_in_red_with_its_positions(tmp_path: Path) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), anyio.fail_after(60):
        async with httpx2.AsyncClient(timeout=30) as http:
            await log_in(http, proxy.console)
            proxy.policy.write_text(demo_policy().replace("default: allow", "default: maybe"))
            page = await http.get(f"{proxy.console}/policy")
            assert 'class="failed"' in page.text
            assert "line 5, column 1" in page.text
            assert '<tr id="L5" class="bad">' in page.text


async def test_the_console_refuses_a_foreign_host(tmp_path: Path) -> None:
    with proxy_running(prepare(tmp_path)) as proxy, anyio.fail_after(60):
        async with httpx2.AsyncClient(timeout=30) as http:
            answer = await http.get(f"{proxy.console}/login", headers={"Host": "evil.example"})
            assert answer.status_code in (403, 421)
            origin = await http.post(
                f"{proxy.console}/login",
                headers={"Origin": "http://evil.example"},
                data={"name": "x", "token": ADMIN_TOKEN},
            )
            assert origin.status_code in (403, 421)


async def test_the_standalone_console_approves_a_call_a_proxy_holds(tmp_path: Path) -> None:
    proxy = prepare(tmp_path)
    with proxy_running(proxy), console_running(proxy) as console, anyio.fail_after(90):
        async with agent(proxy) as client, anyio.create_task_group() as group:
            results = in_background(group, client, "issue_refund", _refund(300))
            [pending] = await next_pending(proxy)
            async with httpx2.AsyncClient(timeout=30) as http:
                await log_in(http, console, name="carol")
                page = (await http.get(f"{console}/approvals")).text
                assert pending.id in page
                await http.post(
                    f"{console}/approvals/{pending.id}/decide",
                    data={"action": "minutes", "minutes": "5", "csrf": csrf_of(page)},
                )
        assert text_of(results[0]) == "refunded 300.00 EUR for order o-1"
        # The standalone console wrote its answer to the proxies' audit log.
        async with httpx2.AsyncClient(timeout=30) as http:
            await log_in(http, console)
            events = await http.get(
                f"{console}/audit/export", params={"format": "jsonl", "tool": "issue_refund"}
            )
            approved = [json.loads(x) for x in events.text.splitlines()]
            assert any(
                r.get("event") == "approval.approved" and r.get("by") == "carol" for r in approved
            )


def _refund(amount: int) -> dict[str, object]:
    return {"order_id": "o-1", "amount": amount, "currency": "EUR"}


SPEND_AND_SHADOW = """\
version: "1"
default: allow
tools:
  issue_refund:
    rules:
      - name: daily-spend-cap
        conditions:
          - {path: state.issue_refund.daily_spend, op: lte, value: 1000}
        on_deny: the daily spend cap of 1000 is reached
        state: {counter: daily_spend, window: day, increment_from: args.amount}
  delete_record:
    rules:
      - name: no-deletes-yet
        mode: shadow
        action: deny
        on_deny: deletes will be refused soon
"""


async def test_limits_show_a_spend_counter_and_decisions_show_shadow_verdicts_apart(
    tmp_path: Path,
) -> None:
    proxy = prepare(tmp_path, SPEND_AND_SHADOW)
    with proxy_running(proxy), anyio.fail_after(90):
        async with agent(proxy) as client:
            await client.call_tool("issue_refund", {"order_id": "o-1", "amount": 40})
            await client.call_tool("issue_refund", {"order_id": "o-2", "amount": 35})
            deleted = await client.call_tool("delete_record", {"record_id": "r-1"})
            assert text_of(deleted) == "r-1: deleted"  # a shadow rule stops nothing
        await audited(proxy, 3)
        async with httpx2.AsyncClient(timeout=30) as http:
            await log_in(http, proxy.console)
            limits = (await http.get(f"{proxy.console}/limits")).text
            assert "issue_refund.daily_spend" in limits
            assert "<strong>75</strong>" in limits
            assert "per calendar day (UTC)" in limits and "resets in" in limits
            shadow = await http.get(f"{proxy.console}/decisions", params={"decision": "would_deny"})
            assert "would deny (shadow)" in shadow.text
            assert "went through: allow" in shadow.text
            assert "issue_refund" not in shadow.text.split("<tbody", 1)[1]
