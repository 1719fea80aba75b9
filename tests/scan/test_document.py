"""Merging scan results into policy and test files, without a server in the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from callgate.catalogue.definition import read_definition
from callgate.catalogue.recommend import RULE_SPEND, RULE_THRESHOLD, flag_entries, recommend
from callgate.catalogue.yamldoc import dump_yaml
from callgate.classifier import Category, Classification, Flag
from callgate.policy.compiler import compile_policy
from callgate.policy.loader import load_policy_text
from callgate.policy.testing import run_test_file
from callgate.scan.document import UNSEEN_TOOL, DocumentError, merge_policy
from callgate.scan.starter import ScannedTool, scan_tools
from tests.catalogue.checks import verdict

TOOLS: list[dict[str, Any]] = [
    {"name": "list_things", "description": "List things"},
    {"name": "create_thing", "description": "Create a thing"},
    {
        "name": "run_script",
        "description": "Run a script",
        "inputSchema": {"type": "object", "properties": {"script": {"type": "string"}}},
    },
    {"name": "delete_thing", "description": "Delete a thing"},
    {"name": "delete_other", "description": "Delete another thing"},
    {
        "name": "create_charge",
        "description": "Charge a card",
        "inputSchema": {
            "type": "object",
            "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}},
            "required": ["amount"],
        },
    },
    {"name": "invoice_list", "description": "List invoices"},
]


def _merge(existing: str | None = None, tests: str | None = None, default: str = "allow") -> Any:
    return merge_policy(
        existing,
        scan_tools(TOOLS),
        default=default,
        origin="fixture",
        existing_tests=tests,
        policy_ref="policy.yaml",
    )


def _data(text: str) -> dict[str, Any]:
    loaded = YAML(typ="safe").load(text)
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("default", ["allow", "deny"])
def test_fresh_policy_compiles_and_its_cases_pass(tmp_path: Path, default: str) -> None:
    merge = _merge(default=default)
    (tmp_path / "policy.yaml").write_text(merge.policy)
    (tmp_path / "policy.test.yaml").write_text(merge.tests)

    compile_policy(load_policy_text(merge.policy))
    result = run_test_file(tmp_path / "policy.test.yaml")

    assert result.failed == 0, [case.problems for case in result.cases if not case.passed]
    assert result.passed == merge.added_cases
    assert merge.added_tools == [tool.name for tool in scan_tools(TOOLS)]


def _scanned(definition: dict[str, Any], verdict: Classification) -> ScannedTool:
    """A scanned tool with a verdict built by hand (whatever the classifier says today)."""
    recommendation = recommend(read_definition(definition), verdict)
    assert recommendation is not None
    return ScannedTool(definition, verdict, recommendation)


CHARGE = next(tool for tool in TOOLS if tool["name"] == "create_charge")
SECRET = {
    "name": "get_api_key",
    "description": "Return an API key",
    "inputSchema": {"type": "object", "properties": {"service": {"type": "string"}}},
}


def test_each_tool_gets_its_recommended_rules_and_their_cases() -> None:
    merge = _merge()

    for tool in scan_tools(TOOLS):
        entry = _data(merge.policy)["tools"][tool.name]
        assert entry == {"category": tool.category.value, **_flags(tool), **_plain(tool)}
        cases = [case for case in _data(merge.tests)["cases"] if case["tool"] == tool.name]
        assert cases == [dict(case) for case in tool.recommendation.cases]


def _flags(tool: ScannedTool) -> dict[str, Any]:
    flags = [flag.value for flag in tool.classification.flags]
    return {"flags": flags} if flags else {}


def _plain(tool: ScannedTool) -> dict[str, Any]:
    data = YAML(typ="safe").load(dump_yaml(tool.recommendation.entry))
    assert isinstance(data, dict)
    return data


def test_financial_tool_with_amount_gets_a_threshold_and_a_spend_counter(tmp_path: Path) -> None:
    scanned = [_scanned(CHARGE, verdict("create_charge", Category.FINANCIAL, Flag.MONEY))]

    merge = merge_policy(None, scanned, default="allow", origin="fixture")

    entry = _data(merge.policy)["tools"]["create_charge"]
    assert entry["flags"] == ["money"]
    assert [rule["name"] for rule in entry["rules"]][:2] == [RULE_THRESHOLD, RULE_SPEND]
    assert entry["rules"][1]["state"]["increment_from"] == "args.amount"
    assert "approvals" in _data(merge.policy)
    _assert_cases_pass(tmp_path, merge)


def test_comment_shows_category_severity_confidence_flags_and_decided_by() -> None:
    secret = verdict(
        "get_api_key",
        Category.READ,
        Flag.CREDENTIALS,
        decided_by="read: name verb 'get' only retrieves (rule 1)",
        doubts=("the description is short",),
    )

    merge = merge_policy(None, [_scanned(SECRET, secret)], default="allow", origin="fixture")

    for line in (
        "# Return an API key",
        "# parameters: service? (string)",
        "# read, severity low, confidence medium (0.60)",
        "# flags: credentials",
        "# decided by: name verb 'get' only retrieves (rule 1)",
        "# - first evidence",
        "# - lowered by: the description is short",
    ):
        assert line in merge.policy


def test_a_credentials_tool_brings_a_flags_entry_whose_case_fires(tmp_path: Path) -> None:
    secret = _scanned(SECRET, verdict("get_api_key", Category.READ, Flag.CREDENTIALS))

    merge = merge_policy(None, [secret], default="allow", origin="fixture")

    data = _data(merge.policy)
    assert data["flags"] == flag_entries([Flag.CREDENTIALS])
    assert list(data).index("flags") < list(data).index("tools")
    assert data["tools"]["get_api_key"]["flags"] == ["credentials"]
    assert merge.added_flags == ["credentials"]
    new_tool = [case for case in _data(merge.tests)["cases"] if case.get("flags")]
    assert new_tool == [
        {
            "name": "a new tool that touches credentials needs approval",
            "tool": UNSEEN_TOOL,
            "args": {},
            "expect": "approval_required",
            "rule": "credentials need approval",
            "flags": ["credentials"],
        }
    ]
    _assert_cases_pass(tmp_path, merge)
    again = merge_policy(
        merge.policy, [secret], default="allow", origin="fixture", existing_tests=merge.tests
    )
    assert (again.policy, again.added_flags, again.added_cases) == (merge.policy, [], 0)


def test_no_flags_entry_without_a_flagged_tool_and_none_under_default_deny(
    tmp_path: Path,
) -> None:
    plain = _scanned(TOOLS[0], verdict("list_things", Category.READ))
    secret = _scanned(SECRET, verdict("get_api_key", Category.READ, Flag.CREDENTIALS))

    assert "flags" not in _data(merge_policy(None, [plain], default="allow", origin="x").policy)
    denying = merge_policy(None, [secret], default="deny", origin="fixture")
    assert "flags" in _data(denying.policy)
    assert not [case for case in _data(denying.tests)["cases"] if case.get("flags")]
    _assert_cases_pass(tmp_path, denying)


def _assert_cases_pass(directory: Path, merge: Any) -> None:
    (directory / "policy.yaml").write_text(merge.policy)
    (directory / "policy.test.yaml").write_text(merge.tests)
    result = run_test_file(directory / "policy.test.yaml")
    assert result.failed == 0, [case.problems for case in result.cases if not case.passed]


def test_tools_covered_by_a_user_pattern_are_not_added() -> None:
    existing = (
        'version: "1"\ntools:\n  delete_*:\n    rules:\n      - name: no\n        action: deny\n'
    )

    merge = _merge(existing)

    tools = _data(merge.policy)["tools"]
    assert "delete_thing" not in tools
    assert "delete_other" not in tools
    assert tools["delete_*"]["rules"][0]["action"] == "deny"
    assert set(merge.kept_tools) == {"delete_thing", "delete_other"}


def test_user_comments_values_and_order_survive_a_merge() -> None:
    first = _merge().policy
    category = next(t for t in scan_tools(TOOLS) if t.name == "create_thing").category.value
    edited = first.replace("default: allow", "default: deny  # we decided").replace(
        f"  create_thing:\n    category: {category}\n",
        "  # ours\n  create_thing:\n    category: execute\n",
    )
    assert edited.count("# ours") == 1

    merged = _merge(edited).policy

    assert merged == edited


def test_null_tools_section_is_filled() -> None:
    merge = _merge('version: "1"\ntools:\n')

    assert len(_data(merge.policy)["tools"]) == len(TOOLS)


@pytest.mark.parametrize(
    ("text", "message"),
    [("tools: [unclosed\n", "not valid YAML"), ("- a\n- b\n", "mapping at the top level")],
)
def test_existing_file_that_cannot_be_merged_is_refused(text: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        _merge(text)


def test_existing_test_cases_are_kept_and_not_duplicated() -> None:
    first = _merge()
    tests = first.tests.replace("cases:\n", "cases:\n  - {name: mine, tool: x, expect: allow}\n")

    again = _merge(first.policy, tests)

    cases = _data(again.tests)["cases"]
    assert cases[0]["name"] == "mine"
    assert again.added_cases == 0
    assert len(cases) == len(_data(first.tests)["cases"]) + 1


def test_a_tool_listed_twice_is_scanned_once_as_last_listed() -> None:
    tools = scan_tools(
        [
            {"name": "report", "description": "Show the report"},
            {"name": "report", "description": "Delete the report"},
        ]
    )

    assert [tool.name for tool in tools] == ["report"]
    assert tools[0].definition["description"] == "Delete the report"
