"""`callgate test`: runs policy test cases, prints `N passed, N failed`, exit 1 on failure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from callgate.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_examples_pass(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in EXAMPLES.rglob("*.test.yaml"))
    assert main(["test", "-q", *files]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    passed, failed = (int(part.split()[0]) for part in last.split(", "))
    assert passed > 50 and failed == 0


INLINE = """\
    policy:
      version: "1"
      tools:
        pay:
          rules:
            - name: small
              conditions: [{path: args.amount, op: lte, value: 10}]
    cases:
      - {name: ok, tool: pay, args: {amount: 5}, expect: allow}
      - {name: wrong on purpose, tool: pay, args: {amount: 50}, expect: allow}
      - {name: wrong rule, tool: pay, args: {amount: 50}, expect: deny, rule: big}
"""


def test_failures_are_listed_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "inline.test.yaml", INLINE)
    assert main(["test", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"pass {path}: ok" in out
    assert f"FAIL {path}: wrong on purpose" in out
    assert "expected allow, got deny" in out
    assert "expected rule 'big', got 'small'" in out
    assert out.splitlines()[-1] == "1 passed, 2 failed"


def test_policy_path_is_relative_to_the_test_file(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", 'version: "1"\ndefault: deny\ntools: {a: {rules: []}}\n')
    sub = tmp_path / "cases"
    sub.mkdir()
    path = write(
        sub,
        "t.test.yaml",
        """\
        policy: ../p.yaml
        cases:
          - {tool: a, expect: allow}
          - {tool: b, expect: deny, rule: default}
        """,
    )
    assert main(["test", str(path)]) == 0


def test_malformed_test_file_is_an_error_with_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "bad.test.yaml",
        """\
        policy: {version: "1"}
        cases:
          - {tool: a, expect: maybe}
          - {tool: a, expect: allow, agnet: x}
        """,
    )
    assert main(["test", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3:15: cases[0].expect: Input should be 'allow'" in out
    assert f"{path}:4:30: cases[1].agnet: unknown key 'agnet' (did you mean 'agent'?)" in out
    assert out.splitlines()[-1] == "0 passed, 0 failed, 1 file with errors"


def test_invalid_inline_policy_is_reported_at_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "bad.test.yaml",
        """\
        policy:
          version: "1"
          defaults: deny
        cases:
          - {tool: a, expect: allow}
        """,
    )
    assert main(["test", str(path)]) == 1
    assert f"{path}:3:3: defaults: unknown key 'defaults'" in capsys.readouterr().out


def test_agent_roles_and_category_in_cases(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "roles.test.yaml",
        """\
        policy:
          version: "1"
          categories:
            destructive: {rules: [{name: ask, action: require_approval}]}
          tools:
            deploy:
              rules:
                - name: deployers
                  conditions: [{path: agent.roles, op: contains, value: deployer}]
        cases:
          - {tool: deploy, agent: {name: ci, roles: [deployer]}, expect: allow}
          - {tool: deploy, agent: intern, expect: deny, rule: deployers}
          - {tool: wipe, category: destructive, expect: approval_required, rule: ask}
        """,
    )
    assert main(["test", str(path)]) == 0


def test_cases_give_the_tools_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "flags.test.yaml",
        """\
        policy:
          version: "1"
          flags:
            credentials: {rules: [{name: ask, action: require_approval}]}
        cases:
          - {tool: read_vault, flags: [credentials], expect: approval_required, rule: ask}
          - {tool: read_vault, flags: [money], expect: allow}
          - {tool: read_vault, expect: allow}
        """,
    )
    assert main(["test", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 passed, 0 failed"


def test_a_misspelt_flag_in_a_case_is_an_error_with_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "typo.test.yaml",
        """\
        policy: {version: "1"}
        cases:
          - {tool: pay, flags: [monye], expect: allow}
        """,
    )
    assert main(["test", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3:25: cases[0].flags[0]: Input should be 'money'" in out
    assert "(did you mean 'money'?)" in out
