"""`callgate validate`: `valid` and exit 0, or every error with its position and exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from callgate.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_policy_prints_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(EXAMPLES / "stripe.yaml")]) == 0
    assert capsys.readouterr().out == "valid\n"


def test_invalid_policy_lists_every_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
        version: "1"
        tools:
          t:
            rules:
              - name: a
                conditions: [{path: state.t.missing, op: lte, value: 1}]
              - name: b
                acton: deny
        """,
    )
    assert main(["validate", "-c", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{path}:6:23: tools.t.rules[0].conditions[0].path: condition references "
        "state.t.missing but no matching state block found (define it with `state: "
        "{counter: ..., window: ...}` on a rule of that tool ('_global' means the '*' entry))",
        f"{path}:8:9: tools.t.rules[1].acton: unknown key 'acton' (did you mean 'action'?)",
    ]
    assert err == "2 errors\n"


def test_yaml_syntax_error_is_positioned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, 'version: "1"\ntools:\n  t: {rules: [}\n')
    assert main(["validate", "-c", str(path)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:3:")


def test_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(tmp_path / "nope.yaml")]) == 1
    assert "No such file" in capsys.readouterr().out


STRICT = """\
    version: "1"
    hide: [secret]
    tools:
      secret:
        rules:
          - {name: never, action: deny}
      delete_file:
        rules:
          - name: counted
            conditions: [{path: args.path, op: regex, value: "tmp"}]
            state: {counter: deletes, window: day}
      "delete_*":
        rules:
          - {name: no deletes, action: deny}
          - {name: after deny, rate_limit: 1/day}
"""


def test_strict_flags_rules_that_never_fire_or_let_calls_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, STRICT)
    assert main(["validate", "-c", str(path)]) == 0
    capsys.readouterr()
    assert main(["validate", "-c", str(path), "--strict"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 5, out
    assert "tools.secret: tool 'secret' is hidden, so its rules never run" in lines[0]
    assert "tools.delete_file: pattern 'delete_*' matches 'delete_file'" in lines[1]
    assert "regex 'tmp' is not anchored" in lines[2]
    assert "counter state.delete_file.deletes is counted but no condition reads it" in lines[3]
    assert "rule 'after deny' never runs" in lines[4]


def test_strict_with_tool_list_flags_unknown_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
        version: "1"
        tools:
          read_file:
            rules:
              - name: inside
                conditions: [{path: args.file, op: path_within, value: /srv}]
        """,
    )
    tools = tmp_path / "tools.json"
    tools.write_text(
        json.dumps(
            {
                "tools": [
                    {
                        "name": "read_file",
                        "inputSchema": {"type": "object", "properties": {"path": {}}},
                    }
                ]
            }
        )
    )
    assert main(["validate", "-c", str(path), "--strict", "--tools", str(tools)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert "tool 'read_file' has no argument 'file'" in line
    assert line.endswith("(arguments: path)")


def test_console_script_runs_validate_in_a_real_process(tmp_path: Path) -> None:
    path = write(tmp_path, 'version: "1"\ndefault: maybe\n')
    done = subprocess.run(
        [sys.executable, "-m", "callgate", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == (
        f"{path}:2:1: default: Input should be 'allow' or 'deny' (use one of the values listed)\n"
    )


@pytest.mark.slow
def test_strict_checks_argument_names_against_a_real_server_over_stdio(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # capfd, not capsys: the server's stderr needs a real file descriptor.
    path = write(
        tmp_path,
        """\
        version: "1"
        tools:
          get_current_time:
            rules:
              - name: "utc only"
                conditions: [{path: args.tz, op: eq, value: UTC}]
          convert_time:
            rules:
              - name: "from utc"
                conditions: [{path: args.source_timezone, op: eq, value: UTC}]
        """,
    )
    server = [sys.executable, "-m", "mcp_server_time"]
    code = main(["validate", "-c", str(path), "--strict", "--", *server])
    out, err = capfd.readouterr()
    assert code == 1, err
    (line,) = out.splitlines()
    assert "tools.get_current_time.rules[0].conditions[0].path" in line
    assert "tool 'get_current_time' has no argument 'tz'" in line
    assert line.endswith("(arguments: timezone)")


def test_a_lock_that_cannot_be_used_is_an_error_not_a_surprise_at_run_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text('version: "1"\nintegrity:\n  lock: pins.lock\n  on_change: deny\n')

    assert main(["validate", "-c", str(policy)]) == 1
    assert "integrity.lock: cannot read" in capsys.readouterr().out

    (tmp_path / "pins.lock").write_text("{broken")
    assert main(["validate", "-c", str(policy)]) == 1
    assert "not JSON" in capsys.readouterr().out

    (tmp_path / "pins.lock").write_text('{"version": 1, "servers": {}}')
    assert main(["validate", "-c", str(policy)]) == 0
    assert capsys.readouterr().out == "valid\n"
