"""Merging scan results into policy and test files, without a server in the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from callgate.policy.compiler import compile_policy
from callgate.policy.loader import load_policy_text
from callgate.policy.testing import run_test_file
from callgate.scan.document import DocumentError, merge_policy
from callgate.scan.starter import scan_tools

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


def test_financial_tool_with_amount_gets_a_spend_counter_and_two_money_cases() -> None:
    merge = _merge()
    entry = _data(merge.policy)["tools"]["create_charge"]
    cases = [c for c in _data(merge.tests)["cases"] if c["tool"] == "create_charge"]

    assert entry["rules"][0]["state"]["increment_from"] == "args.amount"
    assert [case["expect"] for case in cases] == ["approval_required", "deny"]
    assert _data(merge.policy)["tools"]["invoice_list"] == {"category": "read"}


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
    edited = first.replace("default: allow", "default: deny  # we decided").replace(
        "  create_thing:\n    category: write\n",
        "  # ours\n  create_thing:\n    category: execute\n",
    )

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

    assert [(tool.name, tool.category.value) for tool in tools] == [("report", "destructive")]
