"""Shadow mode end to end: the official SDK client -> a real `callgate run` -> a real server.

The server's stdin is recorded, so the tests see what reached it; the audit log is the
proxy's own, read back and queried with `callgate audit query --decision would_deny`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from callgate.audit import read_records
from callgate.audit.terminal import DECISION_STYLES, record_line
from callgate.cli.main import main
from tests.fixtures.servers.commands import SDK_SERVER, callgate_run, recorded, stdio_params
from tests.fixtures.servers.raw_session import RawSession, recorded_messages

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
mode: {mode}
tools:
  echo:
    rules:
      - name: no-echo
        action: deny
        on_deny: "echo is being retired"
  add:
    rules:
      - name: small-numbers
        mode: enforce
        conditions:
          - {path: args.a, op: lte, value: 10}
"""


def _called(log: Path) -> list[tuple[str, dict[str, Any]]]:
    """The tool and arguments of every `tools/call` that reached the server."""
    return [
        (message["params"]["name"], message["params"]["arguments"])
        for message in recorded_messages(log)
        if message.get("method") == "tools/call"
    ]


async def test_a_shadow_denial_reaches_the_server_and_is_audited_as_would_deny(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace("{mode}", "shadow"))
    audit, log = tmp_path / "audit", tmp_path / "upstream.log"
    command = callgate_run(policy, audit, recorded(log, SDK_SERVER), "--agent", "tester")
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env)) as client:
            echoed = await client.call_tool("echo", {"text": "still here"})
            denied = await client.call_tool("add", {"a": 11, "b": 1})

    assert echoed.is_error is False
    first = echoed.content[0]
    assert isinstance(first, TextContent) and first.text == "still here"
    assert echoed.meta is None or "callgate/decision" not in echoed.meta
    # The enforced rule still stops its call; the shadowed one let its call reach the server.
    assert denied.is_error
    assert _called(log) == [("echo", {"text": "still here"})]

    records = read_records(audit)
    shadowed = next(r for r in records if r["tool"] == "echo")
    assert {
        key: shadowed[key] for key in ("decision", "rule", "reason", "enforced", "outcome")
    } == {
        "decision": "would_deny",
        "rule": "no-echo",
        "reason": "echo is being retired",
        "enforced": "allow",
        "outcome": "ok",
    }
    refused = next(r for r in records if r["tool"] == "add")
    assert (refused["decision"], refused["rule"], "enforced" in refused) == (
        "deny",
        "small-numbers",
        False,
    )

    capsys.readouterr()
    query = ["audit", "query", "--audit", str(audit), "--decision", "would_deny"]
    assert main([*query, "--format", "json"]) == 0
    assert [r["tool"] for r in json.loads(capsys.readouterr().out)] == ["echo"]
    assert main([*query[:4], "--decision", "would_*", "--format", "csv"]) == 0
    [row] = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert (row["tool"], row["decision"], row["enforced"]) == ("echo", "would_deny", "allow")
    # callgate status counts it as a call that went through, and names the shadow rule.
    assert main(["status", "--audit", str(audit)]) == 0
    status = capsys.readouterr().out
    assert "2 calls judged" in status and "1 allowed, 1 stopped" in status
    # (Titles wrap in a narrow terminal.) The shadow rule is listed apart, not as stopping.
    assert status.count("no-echo") == 1
    assert status.index("Top rules stopping") < status.index("Shadow rules that")
    assert status.index("Shadow rules that") < status.index("no-echo")
    # audit tail shows it in its own colour, with the verdict that was enforced.
    line = record_line(shadowed)
    assert "enforced=allow" in line.plain
    styles = {str(span.style) for span in line.spans}
    assert DECISION_STYLES["would_deny"] in styles
    assert DECISION_STYLES["deny"] not in styles


async def test_a_policy_reloaded_from_enforce_to_shadow_and_back(
    tmp_path: Path, env: dict[str, str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace("{mode}", "enforce"))
    audit, log = tmp_path / "audit", tmp_path / "upstream.log"
    command = callgate_run(policy, audit, recorded(log, SDK_SERVER), "--reload-interval", "0.02")
    session = await RawSession.start(command, env)
    steps = [("enforce", "while enforced"), ("shadow", "while shadowed"), ("enforce", "again")]
    answers = []
    with anyio.fail_after(60):
        await session.initialize()
        for request_id, (mode, text) in enumerate(steps):
            if request_id:
                policy.write_text(POLICY.replace("{mode}", mode))
                await session.wait_stderr("policy reloaded")
            call = {"name": "echo", "arguments": {"text": text}}
            answers.append(await session.call(request_id, "tools/call", call))
        await session.finish()

    assert [answer["result"].get("isError") for answer in answers] == [True, False, True]
    assert answers[1]["result"]["content"][0]["text"] == "while shadowed"
    assert _called(log) == [("echo", {"text": "while shadowed"})]
    assert [(r["decision"], r.get("enforced")) for r in read_records(audit)] == [
        ("deny", None),
        ("would_deny", "allow"),
        ("deny", None),
    ]
