"""Writing scan results into a policy file and its test file, keeping what the user wrote.

Both files go through ruamel.yaml's round-trip mode: an existing file keeps its keys,
values, order and comments; the scan only adds entries for tools (and categories, and
test cases) it has not seen there before.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from callgate.classifier import Category
from callgate.policy.patterns import ToolPattern, is_pattern
from callgate.scan.starter import (
    ScannedTool,
    category_comment,
    category_rules,
    default_case,
    recommended_cases,
    tool_comment,
    tool_entry,
)

# A name no server is likely to list, for the case that checks `default`.
UNSEEN_TOOL = "callgate_scan_unseen_tool"

_NEEDS_APPROVAL = (Category.DESTRUCTIVE, Category.FINANCIAL)
APPROVALS = {"mode": "wait", "timeout": "10m"}
APPROVALS_COMMENT = (
    "How approvals are asked for: `wait` holds the call until a person decides (or the\n"
    "timeout denies it); `retry` answers at once with an approval id and the agent retries."
)


class DocumentError(Exception):
    """An existing file that cannot be merged into (bad YAML, or not a mapping)."""


@dataclass(slots=True)
class Merge:
    """What one scan changed: the new texts and what was added or kept."""

    policy: str
    tests: str
    added_tools: list[str] = field(default_factory=list)
    kept_tools: list[str] = field(default_factory=list)
    added_categories: list[str] = field(default_factory=list)
    added_cases: int = 0
    default: str = "allow"


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(text: str | None, origin: str) -> CommentedMap | None:
    if text is None or not text.strip():
        return None
    try:
        document = _yaml().load(text)
    except YAMLError as error:
        raise DocumentError(f"{origin}: not valid YAML: {error}") from error
    if document is None:
        return None
    if not isinstance(document, CommentedMap):
        raise DocumentError(f"{origin}: expected a mapping at the top level")
    return document


def _dump(document: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(document, out)
    return out.getvalue()


def _child_map(parent: CommentedMap, key: str) -> CommentedMap:
    """`parent[key]` as a mapping, created (or replacing a YAML null) when missing."""
    value = parent.get(key)
    if value is None:
        value = CommentedMap()
        parent[key] = value
    if not isinstance(value, CommentedMap):
        raise DocumentError(f"`{key}` must be a mapping")
    return value


def _to_yaml(value: Any) -> Any:
    """Plain dicts and lists as round-trip nodes, so they dump in block style."""
    if isinstance(value, dict):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = _to_yaml(item)
        return node
    if isinstance(value, list):
        return CommentedSeq(_to_yaml(item) for item in value)
    return value


def merge_policy(
    existing: str | None,
    tools: Sequence[ScannedTool],
    *,
    default: str,
    origin: str,
    existing_tests: str | None = None,
    policy_ref: str = "policy.yaml",
) -> Merge:
    """The policy and test texts after adding `tools` to `existing` (or to a new file)."""
    document = _load(existing, "policy")
    fresh = document is None
    if document is None:
        document = CommentedMap()
        document["version"] = "1"
        document["description"] = f"Starter policy for {origin} (written by callgate scan)"
        document["default"] = default
        document.yaml_set_start_comment(
            f"Starter policy written by `callgate scan` for {origin}.\n"
            "Tools are grouped by risk category; the comment above each says why.\n"
            "Edit freely: re-running the scan keeps your edits and adds only new tools."
        )
    merge = Merge(policy="", tests="", default=str(document.get("default", "allow")))
    if fresh and any(tool.category in _NEEDS_APPROVAL for tool in tools):
        document["approvals"] = _to_yaml(dict(APPROVALS))
        document.yaml_set_comment_before_after_key("approvals", before=APPROVALS_COMMENT)
    tools_map = _child_map(document, "tools")
    # A tool the user already covers with a pattern (`delete_*`) keeps following it: an
    # exact entry would take precedence and silently drop the pattern's rules.
    patterns = [ToolPattern.compile(str(key)) for key in tools_map if is_pattern(str(key))]
    covered = {
        tool.name
        for tool in tools
        if tool.name in tools_map or any(pattern.matches(tool.name) for pattern in patterns)
    }
    new_tools = [tool for tool in tools if tool.name not in covered]
    merge.kept_tools = [tool.name for tool in tools if tool.name in covered]
    _add_categories(document, new_tools, merge)
    _add_tools(tools_map, new_tools, merge)
    merge.policy = _dump(document)
    merge.tests = _merge_tests(existing_tests, new_tools, merge, policy_ref, origin)
    return merge


def _add_categories(document: CommentedMap, new_tools: Sequence[ScannedTool], merge: Merge) -> None:
    wanted = [
        category
        for category in sorted({tool.category for tool in new_tools}, key=lambda c: c.rank)
        if category_rules(category) is not None
    ]
    if not wanted:
        return
    categories = document.get("categories")
    if categories is None:
        # Before `tools:`, so a reader meets the rules before the long tool list.
        categories = CommentedMap()
        position = list(document).index("tools") if "tools" in document else len(document)
        document.insert(position, "categories", categories)
        document.yaml_set_comment_before_after_key(
            "categories", before="Recommended rules by risk category"
        )
    if not isinstance(categories, CommentedMap):
        raise DocumentError("`categories` must be a mapping")
    for category in wanted:
        if category.value in categories:
            continue
        categories[category.value] = _to_yaml(category_rules(category))
        categories.yaml_set_comment_before_after_key(
            category.value, before=f"{category.value}: {category_comment(category)}", indent=2
        )
        merge.added_categories.append(category.value)


def _add_tools(tools_map: CommentedMap, new_tools: Sequence[ScannedTool], merge: Merge) -> None:
    previous: Category | None = None
    for tool in new_tools:
        tools_map[tool.name] = _to_yaml(tool_entry(tool))
        comment = tool_comment(tool)
        if tool.category is not previous:
            count = sum(1 for other in new_tools if other.category is tool.category)
            heading = f"==== {tool.category.value} ({count}) ===="
            comment = f"{heading}\n{category_comment(tool.category)}\n\n{comment}"
            previous = tool.category
        tools_map.yaml_set_comment_before_after_key(tool.name, before=comment, indent=2)
        merge.added_tools.append(tool.name)


def _merge_tests(
    existing: str | None,
    new_tools: Sequence[ScannedTool],
    merge: Merge,
    policy_ref: str,
    origin: str,
) -> str:
    document = _load(existing, "test file")
    if document is None:
        document = CommentedMap()
        document["policy"] = policy_ref
        document.yaml_set_start_comment(
            f"Policy tests written by `callgate scan` for {origin}.\n"
            "Run them with: callgate test <this file>"
        )
    cases = document.get("cases")
    if cases is None:
        cases = CommentedSeq()
        document["cases"] = cases
    if not isinstance(cases, CommentedSeq):
        raise DocumentError("test file: `cases` must be a list")
    names = {case.get("name") for case in cases if isinstance(case, CommentedMap)}
    wanted = [case for tool in new_tools for case in recommended_cases(tool)]
    wanted.append(default_case(merge.default, UNSEEN_TOOL))
    for case in wanted:
        if case["name"] not in names:
            cases.append(_to_yaml(case))
            names.add(case["name"])
            merge.added_cases += 1
    return _dump(document)
