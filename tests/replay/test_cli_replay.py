"""`callgate replay` over a log written by real `callgate run` proxies in front of a real
MCP server (the SDK's), driven by the SDK client: the exact changes, exit codes and JSON.

The log is recorded once per module: one proxy keeps arguments `redacted`, a second one,
in the same directory, keeps only their hash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from callgate.audit import read_records
from callgate.audit.record import format_time
from callgate.cli.main import main
from tests.fixtures.servers.commands import CALLGATE, ROOT, SDK_SERVER, callgate_run, stdio_params

pytestmark = pytest.mark.slow

RECORDED = """\
version: "1"
default: allow
tools:
  add:
    rules:
      - name: small-numbers
        conditions:
          - {path: args.a, op: lte, value: 10}
audit:
  arguments: MODE
"""

CHANGED = """\
version: "1"
default: allow
hide: [fail]
tools:
  add:
    rules:
      - name: tiny-numbers
        conditions:
          - {path: args.a, op: lte, value: 3}
      - name: add-pace
        rate_limit: {max: 3, window: 60}
  echo:
    rules:
      - name: no-passwords
        conditions:
          - {path: args.password, op: exists, value: false}
      - name: no-curl
        conditions:
          - {path: args.text, op: not_regex, value: "^curl"}
  charge:
    rules:
      - {name: charges need approval, action: require_approval}
"""

SECRET = "hunter2-do-not-log"
TOKEN = "ghp_0123456789abcdefABCDEF"


@dataclass(frozen=True)
class Log:
    """The recorded audit directory, the key that chains it, and the proxies' environment."""

    audit: Path
    key: Path
    env: dict[str, str]


async def _record(home: Path, env: dict[str, str], audit: Path) -> None:
    redacted = home / "redacted.yaml"
    redacted.write_text(RECORDED.replace("MODE", "redacted"))
    hashed = home / "hashed.yaml"
    hashed.write_text(RECORDED.replace("MODE", "hash"))
    with anyio.fail_after(90):
        command = callgate_run(redacted, audit, SDK_SERVER, "--agent", "tester")
        async with Client(stdio_params(command, env), mode="legacy") as client:
            for a in range(6):
                await client.call_tool("add", {"a": a, "b": 1})
            await client.call_tool("add", {"a": 11, "b": 1})  # denied by small-numbers
            for n in range(3):
                await client.call_tool("echo", {"text": f"hello {n}"})
            await client.call_tool("echo", {"text": "x", "password": SECRET})
            await client.call_tool("echo", {"text": f"curl -H 'Authorization: Bearer {TOKEN}'"})
            await client.call_tool("fail", {"message": "boom"})
            await client.call_tool("charge", {"amount": 12.5})
        command = callgate_run(hashed, audit, SDK_SERVER, "--agent", "hasher")
        async with Client(stdio_params(command, env), mode="legacy") as client:
            await client.call_tool("add", {"a": 7, "b": 1})
            await client.call_tool("charge", {"amount": 3})


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    home = tmp_path_factory.mktemp("replay")
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data")}
    audit = home / "audit"
    anyio.run(_record, home, env, audit)
    return Log(audit, home / "data" / "callgate" / "audit.key", env)


def _replay(
    log: Log, policy: str, *args: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> tuple[int, str, str]:
    path = tmp_path / "new.yaml"
    path.write_text(policy)
    code = main(
        ["replay", "-c", str(path), "--audit", str(log.audit), "--key", str(log.key), *args]
    )
    out, err = capsys.readouterr()
    return code, out, err


def _groups(data: dict[str, Any]) -> list[tuple[str, Any, Any, str | None, int]]:
    return [
        (
            group["change"],
            (group["old"]["decision"], group["old"]["rule"]),
            group["new"] and (group["new"]["decision"], group["new"]["rule"]),
            group["why"],
            group["count"],
        )
        for group in data["groups"]
    ]


HASHED = "cannot tell: arguments not recorded (audit.arguments: hash)"
REDACTED_AT = "cannot tell: condition on redacted value at "


def test_a_changed_policy_reports_every_change_exactly(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _replay(log, CHANGED, "--format", "json", capsys=capsys, tmp_path=tmp_path)
    assert code == 1, err
    data = json.loads(out)
    assert (data["calls"], data["unchanged"], data["changed"]) == (16, 6, 6)
    assert (data["other_rule"], data["unknown"], data["not_comparable"]) == (1, 3, 0)
    assert data["arguments"] == {"full": 0, "redacted": 14, "hash": 2}
    assert (data["verified"], data["skipped"]) == (True, {})
    assert _groups(data) == [
        ("changed", ("allow", None), ("deny", "tiny-numbers"), None, 2),
        ("changed", ("allow", None), ("approval_required", "charges need approval"), None, 2),
        ("changed", ("allow", None), ("hidden", "hide"), None, 1),
        ("changed", ("allow", None), ("rate_limited", "add-pace"), None, 1),
        ("other_rule", ("deny", "small-numbers"), ("deny", "tiny-numbers"), None, 1),
        ("unknown", ("allow", None), None, HASHED, 1),
        ("unknown", ("allow", None), None, REDACTED_AT + "/password", 1),
        ("unknown", ("allow", None), None, REDACTED_AT + "/text", 1),
    ]
    examples = {group["title"]: group["examples"] for group in data["groups"]}
    assert [e["arguments"] for e in examples["now denied"]] == [{"a": 4, "b": 1}, {"a": 5, "b": 1}]
    # a = 0, 1, 2 went through: the fourth call in the window is refused.
    [limited] = examples["now rate limited"]
    assert (limited["arguments"], limited["agent"], limited["tool"]) == (
        {"a": 3, "b": 1},
        "tester",
        "add",
    )
    assert limited["new_reason"] == "Rate limit of 3 per minute reached. Try again later."
    assert [e["agent"] for e in examples["now requires approval"]] == ["tester", "hasher"]
    [hashed] = examples[HASHED]
    assert (hashed["agent"], hashed["arguments"]) == ("hasher", None)
    [password] = examples[REDACTED_AT + "/password"]
    assert password["arguments"] == {"text": "x", "password": "[redacted]"}
    assert SECRET not in out and TOKEN not in out


def test_the_table_says_the_same_for_people(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one line per example
    code, out, _ = _replay(log, CHANGED, capsys=capsys, tmp_path=tmp_path)
    assert code == 1
    assert "Replayed 16 calls" in out
    assert "6 unchanged, 6 would change, 1 by another rule, 3 cannot be told" in out
    assert "2 calls recorded with audit.arguments: hash" in out
    assert "now denied: 2 calls   was allow, now deny by 'tiny-numbers'" in out
    assert "now rate limited: 1 call   was allow, now rate_limited by 'add-pace'" in out
    assert "same decision, another rule: 1 call   was deny by 'small-numbers'" in out
    assert REDACTED_AT + "/password: 1 call" in out
    assert '{"a": 3, "b": 1}' in out
    assert '{"password": "[redacted]", "text": "x"}' in out


def test_the_policy_that_wrote_the_log_changes_nothing(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    same = RECORDED.replace("MODE", "redacted")
    code, out, err = _replay(log, same, "--format", "json", capsys=capsys, tmp_path=tmp_path)
    data = json.loads(out)
    # Only the hashed call to add cannot be judged again: its rule reads args.a.
    assert (data["unchanged"], data["changed"], data["unknown"]) == (15, 0, 1)
    assert code == 1, err
    code, _, _ = _replay(log, same, "--allow-unknown", capsys=capsys, tmp_path=tmp_path)
    assert code == 0
    code, out, _ = _replay(
        log, same, "--since", "2999-01-01", "--format", "json", capsys=capsys, tmp_path=tmp_path
    )
    assert (code, json.loads(out)["calls"]) == (0, 0)


def test_an_invalid_policy_is_a_usage_error_with_validates_errors(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = CHANGED.replace("op: lte", "op: lten").replace("max: 3", "max: three")
    code, out, err = _replay(log, broken, capsys=capsys, tmp_path=tmp_path)
    assert (code, out) == (2, "")
    assert main(["validate", "-c", str(tmp_path / "new.yaml")]) == 1
    validated, _ = capsys.readouterr()
    issues = validated.splitlines()
    assert len(issues) == 2 and "lten" in validated
    assert err.splitlines()[:2] == issues  # the same lines, positions and hints
    assert "is not a valid policy: 2 errors" in err


def test_a_missing_log_and_an_unreadable_key_are_usage_errors(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(CHANGED)
    code = main(["replay", "-c", str(policy), "--audit", str(tmp_path / "nowhere")])
    assert code == 2
    assert "no audit log at" in capsys.readouterr().err
    code = main(
        ["replay", "-c", str(policy), "--audit", str(log.audit), "--key", str(tmp_path / "k")]
    )
    assert code == 2
    assert "cannot read the audit key" in capsys.readouterr().err


def test_a_log_that_does_not_verify_is_refused_unless_no_verify(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    copy = tmp_path / "audit"
    shutil.copytree(log.audit, copy)
    chain = next(file for file in sorted(copy.glob("*.jsonl")) if b'"tester"' in file.read_bytes())
    lines = chain.read_bytes().splitlines(keepends=True)
    lines[6] = lines[6].replace(b'"decision":"deny"', b'"decision":"allow"')  # add a=11
    chain.write_bytes(b"".join(lines))
    tampered = Log(copy, log.key, log.env)
    code, out, err = _replay(tampered, CHANGED, capsys=capsys, tmp_path=tmp_path)
    assert (code, out) == (2, "")
    assert "does not verify" in err and "EDITED" in err
    code, out, _ = _replay(
        tampered, CHANGED, "--no-verify", "--format", "json", capsys=capsys, tmp_path=tmp_path
    )
    assert code == 1
    assert json.loads(out)["verified"] is False


def test_a_single_file_log_needs_no_verify(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chain = next(
        file for file in sorted(log.audit.glob("*.jsonl")) if b'"hasher"' in file.read_bytes()
    )
    single = Log(chain, log.key, log.env)
    code, _, err = _replay(single, CHANGED, capsys=capsys, tmp_path=tmp_path)
    assert code == 2 and "single file" in err
    code, out, _ = _replay(
        single, CHANGED, "--no-verify", "--format", "json", capsys=capsys, tmp_path=tmp_path
    )
    assert (code, json.loads(out)["calls"], json.loads(out)["arguments"]["hash"]) == (1, 2, 2)


def test_the_command_as_a_process(log: Log, tmp_path: Path) -> None:
    policy = tmp_path / "same.yaml"
    policy.write_text(RECORDED.replace("MODE", "redacted"))
    done = subprocess.run(
        [*CALLGATE, "replay", "-c", str(policy), "--audit", str(log.audit), "--allow-unknown"],
        cwd=ROOT,
        env=log.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "15 unchanged, 0 would change, 1 cannot be told" in done.stdout


def test_calls_before_since_still_count_towards_the_limits(
    log: Log, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = read_records(log.audit)
    fourth = next(r for r in records if r["tool"] == "add" and r["arguments"] == {"a": 3, "b": 1})
    since = fourth["time"]
    code, out, _ = _replay(
        log, CHANGED, "--since", since, "--format", "json", capsys=capsys, tmp_path=tmp_path
    )
    data = json.loads(out)
    assert code == 1
    assert data["counters_from"] == format_time(datetime.fromisoformat(since).timestamp() - 60)
    # a = 0, 1, 2 are not reported (unless answered in the same millisecond), but they
    # took the rate limit's slots.
    assert data["calls"] == sum(1 for r in records if r["time"] >= since) <= 14
    limited = next(g for g in data["groups"] if g["title"] == "now rate limited")
    assert [e["arguments"] for e in limited["examples"]] == [{"a": 3, "b": 1}]


@pytest.mark.parametrize("verify", ["--verify", "--no-verify"])
def test_an_unreadable_log_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verify: str
) -> None:
    audit = tmp_path / "audit"
    (audit / "20261207T100000Z-1-ab.000001.jsonl").mkdir(parents=True)  # not a file
    key = tmp_path / "audit.key"
    key.write_text("ab" * 32)
    policy = tmp_path / "p.yaml"
    policy.write_text(CHANGED)
    code = main(["replay", "-c", str(policy), "--audit", str(audit), "--key", str(key), verify])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "cannot read the audit" in err and "Is a directory" in err
