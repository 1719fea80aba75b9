"""`callgate scan` end to end: real servers in, a policy that validates and tests that pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from callgate.catalogue.card import deciding_sentence
from callgate.scan.starter import ScannedTool, scan_tools
from tests.fixtures.node import NodePeers
from tests.scan.paged_server import ROOT, TOOLS, running_http

CALLGATE = [sys.executable, "-m", "callgate"]
VENV_BIN = Path(sys.executable).parent
PAGED = [sys.executable, "-m", "tests.scan.paged_server", "stdio"]
TIMEOUT = 180


def _callgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CALLGATE, *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT, check=False
    )


def _scan(policy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = _callgate("scan", "-o", str(policy), *args)
    assert done.returncode == 0, done.stderr
    return done


def _assert_valid_and_tests_pass(policy: Path) -> None:
    validated = _callgate("validate", "-c", str(policy))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    tested = _callgate("test", str(policy.with_name(f"{policy.stem}.test.yaml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " 0 failed" in tested.stdout


def _load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict)
    return data


def _scanned() -> list[ScannedTool]:
    """What the scan makes of the paged server's tools, in their wire form."""
    return scan_tools(
        [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in TOOLS]
    )


def test_scan_writes_a_policy_that_validates_and_a_test_file_that_passes(tmp_path: Path) -> None:
    policy = tmp_path / "paged.yaml"

    _scan(policy, "--", *PAGED)

    _assert_valid_and_tests_pass(policy)
    data = _load(policy)
    expected = _scanned()
    assert list(data["tools"]) == [tool.name for tool in expected]
    categories = [tool.category.rank for tool in expected]
    assert categories == sorted(categories, reverse=True)
    for tool in expected:
        entry = data["tools"][tool.name]
        assert entry["category"] == tool.category.value
        assert entry.get("flags", []) == [flag.value for flag in tool.classification.flags]
        assert [rule["name"] for rule in entry["rules"]] == [
            rule.name for rule in tool.recommendation.rules
        ]
        assert entry["validate_arguments"] is True
    text = policy.read_text()
    for listed in TOOLS:
        assert f"# {listed.description}" in text
    for tool in expected:
        comment = _comment_above(text, tool.name)
        result = tool.classification
        assert f"# {result.category.value}, severity {result.severity.value}" in comment
        assert f"confidence {result.confidence.value}" in comment
        assert f"# flags: {', '.join(f.value for f in result.flags) or 'none'}" in comment
        decided_by = " ".join(deciding_sentence(result).split()[:4])
        assert f"# decided by: {decided_by}" in comment
    assert "# parameters: payment_id? (string), amount? (number), currency? (string)" in text
    cases = _load(policy.with_name("paged.test.yaml"))["cases"]
    fired = {case.get("rule") for case in cases}
    assert all(rule.name in fired for tool in expected for rule in tool.recommendation.rules)


def _comment_above(text: str, name: str) -> str:
    """The comment lines right above tool `name`'s entry."""
    lines = text.splitlines()
    end = lines.index(f"  {name}:")
    start = end
    while start > 0 and lines[start - 1].startswith("  #"):
        start -= 1
    return "\n".join(lines[start:end])


def _without_entry(text: str, name: str) -> str:
    """The policy text without tool `name`'s entry and the comment block above it."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"  {name}:\n")
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    while start > 0 and lines[start - 1].startswith("  #"):
        start -= 1
    return "".join(lines[:start] + lines[end:])


def test_rescan_keeps_user_edits_and_comments_and_adds_only_missing_tools(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "paged.yaml"
    tests = tmp_path / "paged.test.yaml"
    _scan(policy, "--", *PAGED)
    category = _load(policy)["tools"]["get_status"]["category"]
    edited = (
        policy.read_text()
        .replace("default: allow\n", "default: allow  # our own choice\n")
        .replace(
            f"  get_status:\n    category: {category}\n",
            "  get_status:\n    category: destructive\n",
        )
    )
    # The user drops list_items from the policy; the scan must bring back only that one.
    edited = "# my team's notes\n" + _without_entry(edited, "list_items")
    assert "list_items:" not in edited
    policy.write_text(edited)
    tests.write_text(
        tests.read_text().replace(
            "cases:\n", "cases:\n  - {name: mine, tool: list_items, expect: allow}\n", 1
        )
    )

    done = _scan(policy, "--", *PAGED)

    after = policy.read_text()
    assert after.startswith("# my team's notes\n")
    assert "default: allow  # our own choice" in after
    data = _load(policy)
    assert data["tools"]["get_status"]["category"] == "destructive"
    assert list(data["tools"]).count("list_items") == 1
    assert list(data["tools"])[-1] == "list_items"
    assert "# List the items" in after
    assert "1 added, 6 already in the policy" in done.stderr
    cases = _load(tests)["cases"]
    assert cases[0]["name"] == "mine"
    assert len({case["name"] for case in cases}) == len(cases)


def test_rescan_of_an_unchanged_server_changes_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "paged.yaml"
    _scan(policy, "--", *PAGED)
    first = policy.read_text(), policy.with_name("paged.test.yaml").read_text()

    _scan(policy, "--", *PAGED)

    assert (policy.read_text(), policy.with_name("paged.test.yaml").read_text()) == first


def test_default_deny_denies_tools_the_scan_did_not_see(tmp_path: Path) -> None:
    policy = tmp_path / "paged.yaml"

    _scan(policy, "--default", "deny", "--", *PAGED)

    assert _load(policy)["default"] == "deny"
    cases = _load(tmp_path / "paged.test.yaml")["cases"]
    assert cases[-1]["expect"] == "deny"
    _assert_valid_and_tests_pass(policy)


def test_without_output_the_policy_is_printed(tmp_path: Path) -> None:
    done = _callgate("scan", "--", *PAGED)

    assert done.returncode == 0, done.stderr
    printed = tmp_path / "printed.yaml"
    printed.write_text(done.stdout)
    assert _callgate("validate", "-c", str(printed)).returncode == 0
    assert list(tmp_path.iterdir()) == [printed]


def test_existing_policy_that_is_not_yaml_is_left_untouched(tmp_path: Path) -> None:
    policy = tmp_path / "paged.yaml"
    policy.write_text("tools: [unclosed\n")

    done = _callgate("scan", "-o", str(policy), "--", *PAGED)

    assert done.returncode == 1
    assert "nothing written" in done.stderr
    assert policy.read_text() == "tools: [unclosed\n"
    assert not (tmp_path / "paged.test.yaml").exists()


def test_scan_over_http_with_headers(tmp_path: Path) -> None:
    policy = tmp_path / "http.yaml"

    with running_http(token="sekrit") as url:
        _scan(policy, "--upstream", url, "--header", "X-Token: sekrit")

    assert set(_load(policy)["tools"]) == {tool.name for tool in TOOLS}
    _assert_valid_and_tests_pass(policy)


def test_unreachable_upstream_writes_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "never.yaml"

    done = _callgate("scan", "-o", str(policy), "--", str(tmp_path / "no-such-server"))

    assert done.returncode == 3
    assert not policy.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        pytest.param([str(VENV_BIN / "mcp-server-time")], id="mcp-server-time"),
        pytest.param([str(VENV_BIN / "awslabs.aws-healthomics-mcp-server")], id="aws-healthomics"),
    ],
)
def test_real_pypi_servers_get_a_valid_policy_whose_tests_pass(
    tmp_path: Path, command: list[str]
) -> None:
    policy = tmp_path / "policy.yaml"

    _scan(policy, "--", *command)

    _assert_valid_and_tests_pass(policy)


@pytest.mark.slow
def test_mcp_server_git_policy(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=TIMEOUT)
    policy = tmp_path / "git.yaml"

    _scan(policy, "--", str(VENV_BIN / "mcp-server-git"), "--repository", str(repo))

    _assert_valid_and_tests_pass(policy)
    tools = _load(policy)["tools"]
    assert tools["git_status"]["category"] == "read"
    assert tools["git_commit"]["category"] == "write"


@pytest.mark.slow
def test_healthomics_clone_container_to_ecr_lands_in_execute(tmp_path: Path) -> None:
    policy = tmp_path / "omics.yaml"

    _scan(policy, "--", str(VENV_BIN / "awslabs.aws-healthomics-mcp-server"))

    entry = _load(policy)["tools"]["CloneContainerToECR"]
    assert entry["category"] == "execute"
    assert entry["validate_arguments"] is True
    assert any(rule.get("action") == "require_approval" for rule in entry["rules"])
    comment = _comment_above(policy.read_text(), "CloneContainerToECR")
    assert "# execute, severity" in comment
    assert "# decided by: " in comment


@pytest.mark.node
@pytest.mark.slow
def test_node_reference_servers_get_valid_policies(node_peers: NodePeers, tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    servers = {
        "filesystem": node_peers.server_filesystem(root),
        "memory": node_peers.command("mcp-server-memory"),
        "everything": node_peers.server_everything(),
    }
    for name, command in servers.items():
        policy = tmp_path / f"{name}.yaml"
        _scan(policy, "--", *command)
        _assert_valid_and_tests_pass(policy)
    assert _load(tmp_path / "memory.yaml")["tools"]["delete_entities"]["category"] == "destructive"
