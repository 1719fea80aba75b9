"""`callgate explain`: step by step, in a terminal-friendly form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callgate.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_explain_prints_each_step_and_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "explain",
            "-c",
            str(EXAMPLES / "github.yaml"),
            "--tool",
            "delete_file",
            "--args",
            json.dumps({"path": "README.md"}),
            "--category",
            "destructive",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'call delete_file {"path": "README.md"}'
    assert '· entry tools."delete_*": longest matching pattern' in out
    assert "· entry categories.destructive: the tool's category" in out
    assert "✗ rule 'no deletions by agents' (tools.\"delete_*\", deny): denies every call" in out
    assert "- rule 'destructive tools need approval' (categories.destructive): not evaluated" in out
    assert out[-1] == (
        "decision: DENY by rule 'no deletions by agents': Deleting through an AI agent is "
        "not permitted; ask a maintainer."
    )


def test_explain_uses_agent_roles_and_counters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        'version: "1"\n'
        "tools:\n"
        "  deploy:\n"
        "    rules:\n"
        "      - name: ops\n"
        "        conditions: [{path: agent.roles, op: contains, value: ops}]\n"
        "      - name: daily\n"
        "        conditions: [{path: state.deploy.n, op: lte, value: 3}]\n"
        "        state: {counter: n, window: day}\n"
    )
    args = ["explain", "-c", str(policy), "--tool", "deploy", "--agent", "bot"]
    assert main([*args, "--roles", "ops,dev", "--counters", '{"deploy.n": 3}']) == 0
    out = capsys.readouterr().out
    assert "agent.roles contains 'ops': true (agent.roles = ['dev', 'ops'])" in out
    assert "decision: DENY by rule 'daily'" in out


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]"])
def test_explain_refuses_bad_arguments(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", "-c", str(EXAMPLES / "github.yaml"), "--tool", "x", "--args", bad])
    assert code == 2
    assert "--args and --counters take" in capsys.readouterr().err


def test_explain_reports_an_invalid_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text('version: "1"\ntool: {}\n')
    assert main(["explain", "-c", str(policy), "--tool", "x"]) == 1
    assert "unknown key 'tool' (did you mean 'tools'?)" in capsys.readouterr().err


def test_explain_shows_the_flag_entries_the_given_flags_select(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["explain", "-c", str(EXAMPLES / "github.yaml"), "--tool", "get_secret"]
    assert main([*args, "--category", "read", "--flags", "credentials, bulk"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "· entry flags.credentials: a flag of the tool" in out
    assert "· flags bulk: no flags entry for them" in out
    decision = (
        "decision: APPROVAL REQUIRED by rule 'credentials need approval': "
        "calls to 'get_secret' need approval (rule 'credentials need approval')"
    )
    assert decision in out
    assert main(args) == 0
    assert "decision: ALLOW" in capsys.readouterr().out.splitlines()


def test_explain_refuses_an_unknown_flag(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["explain", "-c", str(EXAMPLES / "github.yaml"), "--tool", "x"]
    assert main([*args, "--flags", "money,credential"]) == 2
    assert "unknown flag 'credential' (did you mean 'credentials'?)" in capsys.readouterr().err
