"""`callgate run -- CMD`: the official SDK client -> a real callgate process -> real servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitResult, TextContent

from callgate.audit import read_records
from tests.fixtures.servers.commands import (
    FASTMCP_SERVER,
    SDK_SERVER,
    callgate_run,
    recorded,
    stdio_params,
    time_server,
)
from tests.fixtures.servers.raw_session import RawSession, recorded_messages

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
default: allow
hide: [secret_tool]
tools:
  add:
    rules:
      - name: small-numbers
        conditions:
          - path: args.a
            op: lte
            value: 10
        on_deny: "a must be at most 10"
      - name: add-twice-a-minute
        rate_limit: 2/minute
  fail:
    rules:
      - name: fail-twice-a-minute
        rate_limit: 2/minute
  place_order:
    validate_arguments: true
  block:
    rules:
      - name: one-block-a-minute
        rate_limit: 1/minute
  reject:
    rules:
      - name: one-rejection-a-minute
        rate_limit: 1/minute
  confirmed_action:
    rules:
      - name: one-confirmed-action-a-minute
        rate_limit: 1/minute
  charge:
    rules:
      - name: refunds-need-a-human
        action: require_approval
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return read_records(path)


def _tool_dicts(listing: Any) -> dict[str, Any]:
    return {tool.name: tool.model_dump(mode="json", by_alias=True) for tool in listing.tools}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    "server",
    [SDK_SERVER, FASTMCP_SERVER, time_server()],
    ids=["sdk", "fastmcp", "mcp-server-time"],
)
async def test_agent_sees_the_same_tools_and_schemas_minus_hidden(
    mode: str, server: list[str], policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    with anyio.fail_after(60):
        async with Client(stdio_params(server), mode=mode) as direct:
            direct_tools = _tool_dicts(await direct.list_tools())
        command = callgate_run(policy, tmp_path / "audit.jsonl", server)
        async with Client(stdio_params(command, env), mode=mode) as proxied:
            proxied_tools = _tool_dicts(await proxied.list_tools())
            version = proxied.protocol_version
    direct_tools.pop("secret_tool", None)
    assert proxied_tools == direct_tools
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_each_decision_reaches_the_agent(
    mode: str, policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    audit = tmp_path / "audit.jsonl"
    command = callgate_run(policy, audit, SDK_SERVER, "--agent", "tester")
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env), mode=mode) as client:
            await client.list_tools()
            allowed = await client.call_tool("add", {"a": 1, "b": 2})
            denied = await client.call_tool("add", {"a": 11, "b": 2})
            second = await client.call_tool("add", {"a": 2, "b": 2})
            limited = await client.call_tool("add", {"a": 3, "b": 3})
            hidden = await client.call_tool("secret_tool", {})
            invalid = await client.call_tool(
                "place_order",
                {"order": {"item": "pen", "quantity": 99, "ship_to": {"city": "X", "zip": "1"}}},
            )
            valid = await client.call_tool(
                "place_order",
                {
                    "order": {
                        "item": "pen",
                        "quantity": 2,
                        "ship_to": {"city": "Oslo", "zip": "01234"},
                    }
                },
            )
            approval = await client.call_tool("charge", {"amount": 5})

    assert (allowed.is_error, text_of(allowed)) == (False, "3")
    assert (second.is_error, text_of(second)) == (False, "4")
    assert denied.is_error
    assert text_of(denied) == '[callgate] denied by rule "small-numbers": a must be at most 10'
    assert denied.meta is not None
    assert denied.meta["callgate/decision"]["verdict"] == "deny"
    assert limited.is_error
    assert text_of(limited).startswith('[callgate] denied by rule "add-twice-a-minute": ')
    assert "(at most 2 calls per 60 s; retry in " in text_of(limited)
    assert limited.meta is not None
    assert limited.meta["callgate/decision"]["retry_after"] > 0
    assert hidden.is_error
    assert hidden.meta is not None
    assert hidden.meta["callgate/decision"]["verdict"] == "hidden"
    assert invalid.is_error
    assert "99 is greater than the maximum of 10" in text_of(invalid)
    assert (valid.is_error, text_of(valid)) == (False, "2 x pen to Oslo")
    assert approval.is_error
    assert "no approver is configured" in text_of(approval)

    records = audit_lines(audit)
    decisions = sorted((r["tool"], r["decision"], r["rule"] or "") for r in records)
    assert decisions == sorted(
        [
            ("add", "allow", ""),
            ("add", "deny", "small-numbers"),
            ("add", "allow", ""),
            ("add", "rate_limited", "add-twice-a-minute"),
            ("secret_tool", "hidden", "hide"),
            ("place_order", "deny", "validate_arguments"),
            ("place_order", "allow", ""),
            ("charge", "approval_required", "refunds-need-a-human"),
        ]
    )
    assert {r["agent"] for r in records} == {"tester"}
    assert all(r["latency_ms"] is not None for r in records if r["decision"] == "allow")


async def test_failed_calls_roll_their_rate_limit_back(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    command = callgate_run(policy, tmp_path / "audit.jsonl", SDK_SERVER)
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env), mode="legacy") as client:
            answers = [await client.call_tool("fail", {"message": f"boom {n}"}) for n in range(4)]
    # A limit of 2 per minute, yet every failing call reached the server (which answers
    # with its own error text): each isError result rolled its slot back.
    assert [text_of(answer) for answer in answers] == ["Error executing tool fail"] * 4
    outcomes = [r["outcome"] for r in audit_lines(tmp_path / "audit.jsonl")]
    assert outcomes == ["tool_error"] * 4


async def test_denial_on_the_2026_protocol_carries_result_type(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    session = await RawSession.start(callgate_run(policy, tmp_path / "a.jsonl", SDK_SERVER), env)
    with anyio.fail_after(30):
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}
        answer = await session.call(
            1, "tools/call", {"name": "add", "arguments": {"a": 50, "b": 1}, "_meta": meta}
        )
        assert answer["result"]["resultType"] == "complete"
        assert answer["result"]["isError"] is True
        await session.finish()


async def test_bad_input_is_answered_with_errors_and_never_forwarded(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    log = tmp_path / "upstream-stdin.log"
    command = callgate_run(
        policy, tmp_path / "a.jsonl", recorded(log, SDK_SERVER), "--max-message-bytes", "4096"
    )
    session = await RawSession.start(command, env)
    with anyio.fail_after(30):
        await session.initialize()
        await session.send_line(b"{this is not json")
        await session.send_line(b'{"jsonrpc":"2.0","id":"dup","id":"dup2","method":"tools/list"}')
        await session.send_line(
            b'{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"echo",'
            b'"arguments":{"text":"' + b"y" * 5000 + b'"}}}'
        )
        await session.send_line(
            b'{"jsonrpc":"2.0","id":"case","Method":"tools/call","params":{"name":"echo"}}'
        )
        nameless = await session.call("num", "tools/call", {"name": 7, "arguments": {}})
        good = await session.call(
            "good", "tools/call", {"name": "echo", "arguments": {"text": "hi"}}
        )
        await session.finish()

    assert nameless["error"]["code"] == -32602
    assert good["result"]["content"][0]["text"] == "hi"
    codes = [m["error"]["code"] for m in session.received if "error" in m]
    assert codes == [-32700, -32700, -32600, -32600, -32602]
    seen = recorded_messages(log)
    assert [m.get("method") for m in seen] == [
        "initialize",
        "notifications/initialized",
        "tools/call",
    ]
    assert seen[-1]["id"] == "good"


async def test_dead_upstream_fails_calls_in_flight_and_callgate_exits_with_its_status(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    audit = tmp_path / "a.jsonl"
    session = await RawSession.start(callgate_run(policy, audit, SDK_SERVER), env)
    with anyio.fail_after(30):
        await session.initialize()
        await session.send(
            {"jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": {"name": "block"}}
        )
        crash = {"name": "crash", "arguments": {"code": 7}}
        crashed = await session.call("c", "tools/call", crash)
        blocked = await session.receive("b")
        status = await session.process.wait()
        await session.finish()
    assert crashed["error"]["message"] == "upstream MCP server exited"
    assert blocked["error"]["message"] == "upstream MCP server exited"
    assert status == 7
    outcomes = {r["tool"]: r["outcome"] for r in audit_lines(audit)}
    assert outcomes == {"block": "upstream_lost", "crash": "upstream_lost"}


async def test_policy_edits_apply_to_the_next_call_and_bad_edits_are_refused(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    command = callgate_run(policy, tmp_path / "a.jsonl", SDK_SERVER, "--reload-interval", "0.02")
    session = await RawSession.start(command, env)
    add_five = {"name": "add", "arguments": {"a": 5, "b": 0}}
    with anyio.fail_after(30):
        await session.initialize()
        first = await session.call(1, "tools/call", add_five)
        assert first["result"]["isError"] is False

        policy.write_text(POLICY.replace("value: 10", "value: 3"))
        await session.wait_stderr("policy reloaded")
        after_edit = await session.call(2, "tools/call", add_five)
        assert after_edit["result"]["isError"] is True
        assert "small-numbers" in after_edit["result"]["content"][0]["text"]

        policy.write_text(POLICY.replace("op: lte", "op: lte\n            bogus: 1"))
        await session.wait_stderr("keeping the previous one")
        problem = await session.wait_stderr("bogus")
        kept = await session.call(3, "tools/call", add_five)
        assert kept["result"]["isError"] is True
        assert "small-numbers" in kept["result"]["content"][0]["text"]
        await session.finish()
    assert "policy.yaml:" in problem


async def test_category_rules_apply_whether_or_not_the_tool_was_listed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    policy = tmp_path / "categories.yaml"
    policy.write_text(
        'version: "1"\n'
        "categories:\n"
        "  destructive:\n"
        "    rules:\n"
        "      - name: no-destructive\n"
        "        action: deny\n"
        '        on_deny: "destructive tools are off limits"\n'
    )
    demo_server = [SDK_SERVER[0], "-m", "callgate.demo.server"]
    command = callgate_run(policy, tmp_path / "a.jsonl", demo_server)
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env), mode="legacy") as client:
            unlisted = await client.call_tool("delete_record", {"record_id": "r-1"})
            await client.list_tools()
            listed = await client.call_tool("delete_record", {"record_id": "r-1"})
            read = await client.call_tool("read_record", {"record_id": "r-1"})
    for denied in (unlisted, listed):
        assert denied.is_error
        assert text_of(denied) == (
            '[callgate] denied by rule "no-destructive": destructive tools are off limits'
        )
    assert not read.is_error


async def test_server_to_client_requests_pass_through(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    # Legacy only: on 2026-07-28 over stdio the SDK server has no back-channel for
    # server-initiated requests (it answers with input_required results instead).
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    command = callgate_run(policy, tmp_path / "a.jsonl", SDK_SERVER)
    with anyio.fail_after(60):
        async with Client(
            stdio_params(command, env), mode="legacy", elicitation_callback=elicit
        ) as client:
            confirmed = await client.call_tool("confirm_action", {"action": "deploy"})
    assert text_of(confirmed) == "deploy: done"
    assert asked == ["Really deploy?"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_progress_notifications_pass_through(
    mode: str, policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    reported: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, message))

    command = callgate_run(policy, tmp_path / "a.jsonl", SDK_SERVER)
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env), mode=mode) as client:
            counted = await client.call_tool(
                "count_up", {"steps": 3}, progress_callback=on_progress
            )
    assert text_of(counted) == "counted to 3"
    assert reported == [(1, "step 1"), (2, "step 2"), (3, "step 3")]


async def test_child_inherits_the_environment_and_sigterm_is_forwarded(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    session = await RawSession.start(
        callgate_run(policy, tmp_path / "a.jsonl", SDK_SERVER),
        {**env, "CALLGATE_TEST_VALUE": "v42"},
    )
    with anyio.fail_after(30):
        await session.initialize()
        answer = await session.call(
            1, "tools/call", {"name": "read_env", "arguments": {"name": "CALLGATE_TEST_VALUE"}}
        )
        assert answer["result"]["content"][0]["text"] == "v42"
        session.process.terminate()
        status = await session.process.wait()
        await session.finish()
    # The child died of the forwarded SIGTERM; callgate reports it the shell's way.
    assert status == 128 + 15


@pytest.mark.parametrize(
    ("mode", "outcomes"),
    [("legacy", ["ok"]), ("auto", ["input_required", "ok"])],
)
async def test_input_required_round_rolls_back_and_the_retry_is_judged_afresh(
    mode: str, outcomes: list[str], policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    async def elicit(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    audit = tmp_path / "a.jsonl"
    command = callgate_run(policy, audit, SDK_SERVER)
    with anyio.fail_after(60):
        async with Client(
            stdio_params(command, env),
            mode=mode,
            elicitation_callback=elicit,
        ) as client:
            done = await client.call_tool("confirmed_action", {"action": "ship"})
    # With a limit of one call a minute, the 2026 retry only goes through because the
    # input_required round gave its slot back.
    assert (done.is_error, text_of(done)) == (False, "ship: done")
    assert [r["outcome"] for r in audit_lines(audit)] == outcomes


async def test_upstream_json_rpc_errors_roll_back(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    audit = tmp_path / "a.jsonl"
    session = await RawSession.start(callgate_run(policy, audit, SDK_SERVER), env)
    with anyio.fail_after(30):
        await session.initialize()
        rejection = {"name": "reject", "arguments": {"message": "not now"}}
        answers = [await session.call(n, "tools/call", rejection) for n in range(3)]
        await session.finish()
    # One call a minute is allowed, yet all three reached the server: each JSON-RPC error
    # answer gave the slot back.
    assert [answer["error"] for answer in answers] == [{"code": -32001, "message": "not now"}] * 3
    assert [r["outcome"] for r in audit_lines(audit)] == ["error"] * 3


async def test_cancelled_calls_give_their_slot_back(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    audit = tmp_path / "a.jsonl"
    log = tmp_path / "upstream.log"
    session = await RawSession.start(callgate_run(policy, audit, recorded(log, SDK_SERVER)), env)
    with anyio.fail_after(30):
        await session.initialize()
        for request_id in ("b1", "b2"):
            await session.send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": "tools/call",
                    "params": {"name": "block"},
                }
            )
            # Wait until the call is under way upstream (the server answers pings in order).
            await session.call(f"ping-{request_id}", "ping", {})
            await session.send(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": request_id, "reason": "user gave up"},
                }
            )
        await session.call("last-ping", "ping", {})
        await session.finish()
    # One block a minute, yet the second reached the server: the cancelled first call
    # gave its slot back.
    calls = [m["id"] for m in recorded_messages(log) if m.get("method") == "tools/call"]
    assert calls == ["b1", "b2"]
    assert [r["outcome"] for r in audit_lines(audit)] == ["cancelled", "cancelled"]


async def test_a_batch_is_judged_element_by_element(
    policy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """On 2025-03-26, the one protocol revision with batches (tests/transports/test_batches.py
    has the rest: every version, every mode)."""
    log = tmp_path / "upstream.log"
    command = callgate_run(policy, tmp_path / "a.jsonl", recorded(log, SDK_SERVER))
    session = await RawSession.start(command, env)
    denied = {
        "jsonrpc": "2.0",
        "id": "d",
        "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 99, "b": 1}},
    }
    with anyio.fail_after(30):
        await session.initialize("2025-03-26")
        await session.send_line(f"[{json.dumps(denied)}, 7]".encode())
        replies = await session.receive_batch()
        await session.call("after", "ping", {})
        await session.finish()
    by_id = {reply["id"]: reply for reply in replies}
    assert by_id["d"]["result"]["isError"] is True
    assert "small-numbers" in by_id["d"]["result"]["content"][0]["text"]
    assert by_id[None]["error"]["code"] == -32600
    # Neither element reached the server.
    methods = [m.get("method") for m in recorded_messages(log)]
    assert methods == ["initialize", "notifications/initialized", "ping"]


async def test_counters_survive_a_reload(policy: Path, tmp_path: Path, env: dict[str, str]) -> None:
    command = callgate_run(policy, tmp_path / "a.jsonl", SDK_SERVER, "--reload-interval", "0.02")
    session = await RawSession.start(command, env)
    add = {"name": "add", "arguments": {"a": 1, "b": 1}}
    with anyio.fail_after(30):
        await session.initialize()
        for request_id in (1, 2):
            answer = await session.call(request_id, "tools/call", add)
            assert answer["result"]["isError"] is False
        # An unrelated edit: the add limit keeps its name, so its count carries over.
        policy.write_text(POLICY.replace("hide: [secret_tool]", "hide: [secret_tool, echo]"))
        await session.wait_stderr("policy reloaded")
        third = await session.call(3, "tools/call", add)
        await session.finish()
    assert third["result"]["_meta"]["callgate/decision"]["verdict"] == "rate_limited"
