"""`callgate run` refuses bad invocations before starting anything, with the exit codes
the CLI promises (1 invalid policy, 2 usage, 127 command not found)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.cli.main import main


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text('version: "1"\n')
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give exactly one upstream"),
        (["--upstream", "http://127.0.0.1:9/mcp", "--", "cmd"], "give exactly one upstream"),
        (["--header", "X-Token: 1", "--", "cmd"], "--header applies to an --upstream URL"),
        (["--upstream", "http://127.0.0.1:9/mcp", "--header", "no colon"], '"Name: value"'),
        (["--listen", "localhost", "--", "cmd"], "--listen takes HOST:PORT"),
    ],
)
def test_usage_errors_exit_2(
    policy: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-c", str(policy), *extra]) == 2
    assert message in capsys.readouterr().err


def test_an_invalid_policy_lists_every_issue_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('version: "2"\ndefualt: deny\n')
    assert main(["run", "-c", str(bad), "--", "true"]) == 1
    err = capsys.readouterr().err
    assert "the policy is invalid" in err
    assert "bad.yaml:1:" in err
    assert "bad.yaml:2:" in err


def test_a_missing_policy_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-c", str(tmp_path / "nope.yaml"), "--", "true"]) == 1
    assert "nope.yaml" in capsys.readouterr().err


def test_a_command_that_cannot_start_exits_127(
    policy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    command = ["run", "-c", str(policy), "--state", "memory://", "--no-audit"]
    assert main([*command, "--", str(tmp_path / "no-such-server")]) == 127
    assert "cannot start" in capsys.readouterr().err
