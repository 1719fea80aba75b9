"""`callgate audit` over logs written by a real `callgate run` in front of a real MCP server.

The tamper test edits, deletes, swaps, inserts and truncates records of such a log and
checks that `callgate audit verify` (a real process) names each; the shutdown tests stop a
real proxy every orderly way and by SIGKILL and read what it left.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client

from callgate.audit import read_records
from callgate.audit.sink import ChainWriter
from callgate.cli.main import main
from tests.fixtures.servers.commands import (
    CALLGATE,
    ROOT,
    SDK_SERVER,
    callgate_run,
    recorded,
    stdio_params,
)
from tests.fixtures.servers.raw_session import RawSession

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POLICY = """\
version: "1"
default: allow
tools:
  add:
    rules:
      - name: small-numbers
        conditions:
          - {path: args.a, op: lte, value: 10}
        on_deny: "a must be at most 10"
flags:
  money:
    rules:
      - {name: no-money-tools, action: deny}
audit:
  arguments: {mode}
"""
SECRET = "hunter2-do-not-log"
TOKEN = "ghp_0123456789abcdefABCDEF"


def _policy(tmp_path: Path, mode: str = "redacted") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("{mode}", mode))
    return path


def _audit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`callgate audit ARGS` as a separate process."""
    return subprocess.run(
        [*CALLGATE, "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _proxied_calls(tmp_path: Path, env: dict[str, str], mode: str = "redacted") -> Path:
    """A log written by `callgate run` in front of the SDK server (the SDK client calling)."""
    audit = tmp_path / "audit"
    command = callgate_run(_policy(tmp_path, mode), audit, SDK_SERVER, "--agent", "tester")
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env), mode="legacy") as client:
            await client.list_tools()
            for n in range(4):
                await client.call_tool("add", {"a": n, "b": 1})
            await client.call_tool("add", {"a": 11, "b": 1})  # denied
            await client.call_tool(
                "echo", {"text": f"curl -H 'Authorization: Bearer {TOKEN}'", "password": SECRET}
            )
            await client.call_tool("fail", {"message": "boom"})
            for n in range(3):
                await client.call_tool("echo", {"text": f"after {n}"})
    return audit


def _lines(file: Path) -> list[bytes]:
    return file.read_bytes().splitlines(keepends=True)


def _tampered(log: Path, tmp_path: Path, name: str, change: Callable[[list[bytes]], None]) -> Path:
    copy = tmp_path / name
    shutil.copytree(log, copy)
    [chain] = copy.glob("*.jsonl")
    lines = _lines(chain)
    change(lines)
    chain.write_bytes(b"".join(lines))
    return copy


def _edit(lines: list[bytes]) -> None:
    lines[3] = lines[3].replace(b'"decision":"allow"', b'"decision":"deny"')


def _delete(lines: list[bytes]) -> None:
    del lines[3]


def _swap(lines: list[bytes]) -> None:
    lines[3], lines[4] = lines[4], lines[3]


def _insert(lines: list[bytes]) -> None:
    forged = json.loads(lines[3])
    forged["tool"] = "transfer_funds"
    lines.insert(4, json.dumps(forged, separators=(",", ":")).encode() + b"\n")


def _truncate(lines: list[bytes]) -> None:
    del lines[-2:]


@pytest.mark.parametrize(
    ("change", "problem", "line"),
    [
        (_edit, "EDITED", 4),
        (_delete, "DELETED", 4),
        (_swap, "REORDERED", 4),
        (_insert, "INSERTED", 5),
        (_truncate, "TRUNCATED", 8),
    ],
    ids=["edit", "delete", "swap", "insert", "truncate"],
)
async def test_verify_names_each_kind_of_tampering_in_a_real_log(
    tmp_path: Path,
    env: dict[str, str],
    change: Callable[[list[bytes]], None],
    problem: str,
    line: int,
) -> None:
    log = await _proxied_calls(tmp_path, env)
    intact = _audit(env, "verify", "--audit", str(log))
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "sealed: 10 records" in intact.stdout
    assert "every chain intact" in intact.stdout

    broken = _tampered(log, tmp_path, "tampered", change)
    [chain] = broken.glob("*.jsonl")
    found = _audit(env, "verify", "--audit", str(broken))
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"{problem}:" in found.stdout
    assert f"{chain.name}:{line}" in found.stdout  # the first bad record and its file
    assert "1 broken" in found.stdout


async def test_a_real_log_keeps_the_risk_and_the_redacted_arguments_and_no_result(
    tmp_path: Path, env: dict[str, str]
) -> None:
    log = await _proxied_calls(tmp_path, env)
    text = "".join(file.read_text() for file in log.iterdir())
    assert SECRET not in text and TOKEN not in text
    records = read_records(log)
    echo = next(r for r in records if r["tool"] == "echo")
    assert echo["arguments"] == {
        "text": "curl -H 'Authorization: Bearer [redacted:bearer]'",
        "password": "[redacted]",
    }
    assert echo["redacted"] == ["/text", "/password"]
    assert echo["category"] is not None and isinstance(echo["flags"], list)
    assert echo["result_bytes"] > 0 and echo["is_error"] is False
    failed = next(r for r in records if r["tool"] == "fail")
    assert (failed["outcome"], failed["is_error"]) == ("tool_error", True)
    # The result ("Error executing tool fail") is never written, only its size.
    assert "Error executing" not in json.dumps(failed)
    denied = next(r for r in records if r["decision"] == "deny")
    assert (denied["rule"], denied["arguments"]) == ("small-numbers", {"a": 11, "b": 1})


async def test_hash_mode_keeps_only_the_keyed_hash(tmp_path: Path, env: dict[str, str]) -> None:
    log = await _proxied_calls(tmp_path, env, mode="hash")
    records = read_records(log)
    assert all("arguments" not in r and len(r["arguments_hmac"]) == 64 for r in records)
    assert "after 0" not in "".join(file.read_text() for file in log.iterdir())


async def _started(tmp_path: Path, env: dict[str, str], calls: int) -> tuple[RawSession, Path]:
    """A `callgate run` this test can signal, after `calls` answered tools/call requests.

    The upstream is the SDK server behind the recorder, which (unlike the SDK server
    blocked reading stdin) exits on the SIGINT callgate forwards to it.
    """
    audit = tmp_path / "audit"
    upstream = recorded(tmp_path / "received.jsonl", SDK_SERVER)
    session = await RawSession.start(callgate_run(_policy(tmp_path), audit, upstream), env)
    await session.initialize()
    for n in range(calls):
        answer = await session.call(n, "tools/call", {"name": "add", "arguments": {"a": 1, "b": n}})
        assert answer["result"]["isError"] is False
    return session, audit


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "stdin closed"])
async def test_an_orderly_shutdown_loses_no_record_and_seals_the_chain(
    tmp_path: Path, env: dict[str, str], how: str
) -> None:
    with anyio.fail_after(60):
        session, audit = await _started(tmp_path, env, 40)
        if how == "stdin closed":
            await session.finish()
        else:
            session.process.send_signal(getattr(signal, how))
            await session.process.wait()
            await session.process.aclose()
    assert [r["arguments"]["b"] for r in read_records(audit)] == list(range(40))
    verified = _audit(env, "verify", "--audit", str(audit), "--strict")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "sealed: 40 records" in verified.stdout


async def test_two_proxies_share_one_directory_each_with_its_own_chain(
    tmp_path: Path, env: dict[str, str]
) -> None:
    audit = tmp_path / "audit"
    command = callgate_run(_policy(tmp_path), audit, SDK_SERVER)
    with anyio.fail_after(60):
        first = await RawSession.start(command, env)
        second = await RawSession.start(command, env)
        for session in (first, second):
            await session.initialize()
        for n in range(10):  # interleaved: both write at the same time
            for session in (first, second):
                add = {"name": "add", "arguments": {"a": 1, "b": n}}
                await session.call(n, "tools/call", add)
        for session in (first, second):
            await session.finish()
    assert len(list(audit.glob("*.checkpoint.json"))) == 2
    assert len(read_records(audit)) == 20
    verified = _audit(env, "verify", "--audit", str(audit), "--strict")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("sealed: 10 records") == 2
    assert "2 writers, every chain intact" in verified.stdout


async def _wait_until(condition: Callable[[], bool]) -> None:
    while not condition():
        await anyio.sleep(0.02)


async def test_after_sigkill_verify_says_exactly_where_the_chain_stops(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with anyio.fail_after(60):
        session, audit = await _started(tmp_path, env, 20)
        # The first 20 are written (the checkpoint vouches for them) ...
        await _wait_until(lambda: len(list(audit.glob("*.checkpoint.json"))) == 1)
        [checkpoint] = audit.glob("*.checkpoint.json")
        await _wait_until(lambda: json.loads(checkpoint.read_text())["seq"] == 20)
        # ... the next 5 may still be in the writer's hands when the process dies.
        for n in range(20, 25):
            await session.call(n, "tools/call", {"name": "add", "arguments": {"a": 1, "b": n}})
        session.process.kill()
        await session.process.wait()
        await session.process.aclose()

    [chain] = audit.glob("*.jsonl")
    written = len(chain.read_bytes().splitlines())
    assert 20 <= written <= 25  # at most the unflushed burst is missing
    report = _audit(env, "verify", "--audit", str(audit), "--format", "json")
    assert report.returncode == 0, report.stdout + report.stderr
    [writer] = json.loads(report.stdout)["writers"]
    assert writer["state"] == "stopped"
    assert (writer["last_seq"], writer["end"]) == (written, f"{chain.name}:{written}")
    assert writer["checkpoint_seq"] >= 20
    text = _audit(env, "verify", "--audit", str(audit))
    assert f"stopped without closing (killed or crashed): chain ends at seq {written}" in (
        text.stdout
    )
    strict = _audit(env, "verify", "--audit", str(audit), "--strict")
    assert strict.returncode == 1


async def test_query_export_tail_and_status_read_a_real_log(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    log = await _proxied_calls(tmp_path, env)
    capsys.readouterr()
    assert main(["audit", "query", "--audit", str(log), "--tool", "add", "--format", "json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert [r["decision"] for r in added] == ["allow"] * 4 + ["deny"]
    assert {r["writer"] for r in added} == {next(log.glob("*.jsonl")).name.split(".")[0]}

    assert (
        main(["audit", "query", "--audit", str(log), "--decision", "deny", "--format", "csv"]) == 0
    )
    header, row = capsys.readouterr().out.splitlines()
    assert header.startswith("time,server,session,agent,method,tool,category")
    assert ",add," in row and ",small-numbers," in row

    assert main(["audit", "query", "--audit", str(log), "--agent", "nobody"]) == 0
    assert "No records match." in capsys.readouterr().out
    assert main(["audit", "query", "--audit", str(log), "--since", "1h", "--limit", "2"]) == 0
    assert "the last 2 of 10 records" in capsys.readouterr().out

    exported = tmp_path / "siem.jsonl"
    assert main(["audit", "export", "--audit", str(log), "-o", str(exported)]) == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, 11)) and all("writer" in r for r in lines)

    assert main(["audit", "tail", "--audit", str(log), "-n", "2"]) == 0
    tail = capsys.readouterr().out.splitlines()
    assert len(tail) == 2 and all("echo" in line and "allow" in line for line in tail)

    assert main(["status", "--audit", str(log)]) == 0
    assert "10 calls judged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["query", "--since", "yesterday"], "such as 2026-11-25"),
        (["query", "--limit", "-1"], "--limit"),
        (["verify", "--key", "/nonexistent/key"], "cannot read the audit key"),
    ],
)
def test_bad_input_is_a_usage_error(
    tmp_path: Path, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "audit").mkdir()
    assert main(["audit", args[0], "--audit", str(tmp_path / "audit"), *args[1:]]) == 2
    assert says in capsys.readouterr().err


def test_verify_without_a_directory_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--audit", str(tmp_path / "none")]) == 2
    assert "no audit directory" in capsys.readouterr().err


async def test_tail_follow_prints_records_as_another_process_writes_them(
    tmp_path: Path, env: dict[str, str]
) -> None:
    audit = tmp_path / "audit"
    writer = ChainWriter(audit, b"k" * 32, writer="w1")
    writer.write([_record("2027-01-15T08:00:00.000+00:00", "older", "allow")])
    writer.write([_record("2027-01-15T08:00:01.000+00:00", "first", "allow")])
    command = [*CALLGATE, "audit", "tail", "-f", "-n", "1", "--audit", str(audit)]
    with anyio.fail_after(60):
        async with await anyio.open_process(command, cwd=ROOT, env=env) as tail:
            assert tail.stdout is not None
            lines = BufferedByteReceiveStream(tail.stdout)
            shown = await lines.receive_until(b"\n", 65536)  # the last line, then it follows
            writer.write([_record("2027-01-15T08:00:02.000+00:00", "delete_user", "deny")])
            followed = await lines.receive_until(b"\n", 65536)
            tail.send_signal(signal.SIGINT)
    writer.close()
    assert b"first" in shown
    assert b"deny" in followed and b"s/delete_user" in followed


def _record(time: str, tool: str, decision: str) -> dict[str, Any]:
    return {"time": time, "server": "s", "tool": tool, "decision": decision}


async def test_an_old_single_file_log_is_moved_aside_by_callgate_run(
    tmp_path: Path, env: dict[str, str]
) -> None:
    old = tmp_path / "audit.jsonl"
    old.write_text('{"time": "2026-01-01T00:00:00.000+00:00", "decision": "allow"}\n')
    session = await RawSession.start(callgate_run(_policy(tmp_path), old, SDK_SERVER), env)
    with anyio.fail_after(60):
        note = await session.wait_stderr("moved the audit log")
        await session.initialize()
        await session.call(1, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        await session.finish()
    assert "audit.unchained.jsonl" in note
    assert old.is_dir() and len(read_records(old)) == 1
    assert (tmp_path / "audit.unchained.jsonl").read_text().startswith('{"time": "2026')
