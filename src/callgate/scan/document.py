"""Writing scan results into a policy file and its test file, keeping what the user wrote.

Both files go through ruamel.yaml's round-trip mode: an existing file keeps its keys,
values, order and comments; the scan only adds entries for tools (and flags, and test
cases) it has not seen there before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from callgate.catalogue.yamldoc import POLICY_VERSION, dump_yaml, to_node, yaml_round_trip
from callgate.classifier import Category
from callgate.policy.patterns import ToolPattern, is_pattern
from callgate.scan.starter import (
    ScannedTool,
    category_heading,
    default_case,
    flag_case,
    recommended_cases,
    scanned_flags,
    tool_comment,
    tool_entry,
)

# A name no server is likely to list, for the case that checks `default`.
UNSEEN_TOOL = "callgate_scan_unseen_tool"

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
    added_flags: list[str] = field(default_factory=list)
    added_cases: int = 0
    default: str = "allow"


def _load(text: str | None, origin: str) -> CommentedMap | None:
    if text is None or not text.strip():
        return None
    try:
        document = yaml_round_trip().load(text)
    except YAMLError as error:
        raise DocumentError(f"{origin}: not valid YAML: {error}") from error
    if document is None:
        return None
    if not isinstance(document, CommentedMap):
        raise DocumentError(f"{origin}: expected a mapping at the top level")
    return document


def _child_map(parent: CommentedMap, key: str) -> CommentedMap:
    """`parent[key]` as a mapping, created (or replacing a YAML null) when missing."""
    value = parent.get(key)
    if value is None:
        value = CommentedMap()
        parent[key] = value
    if not isinstance(value, CommentedMap):
        raise DocumentError(f"`{key}` must be a mapping")
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
        document["version"] = POLICY_VERSION
        document["description"] = f"Starter policy for {origin} (written by callgate scan)"
        document["default"] = default
        document.yaml_set_start_comment(
            f"Starter policy written by `callgate scan` for {origin}.\n"
            "Tools are grouped by risk category; the comment above each says why, and the\n"
            "rules under it are what its risk card recommends (`callgate catalog`).\n"
            "Edit freely: re-running the scan keeps your edits and adds only new tools."
        )
    merge = Merge(policy="", tests="", default=str(document.get("default", "allow")))
    if fresh and any(tool.recommendation.needs_approval for tool in tools):
        document["approvals"] = to_node(dict(APPROVALS))
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
    _add_flags(document, new_tools, merge)
    _add_tools(tools_map, new_tools, merge)
    merge.policy = dump_yaml(document)
    merge.tests = _merge_tests(existing_tests, new_tools, merge, policy_ref, origin)
    return merge


def _add_flags(document: CommentedMap, new_tools: Sequence[ScannedTool], merge: Merge) -> None:
    wanted = scanned_flags(new_tools)
    if not wanted:
        return
    flags = document.get("flags")
    if flags is None:
        # Before `tools:`, so a reader meets the rules before the long tool list.
        flags = CommentedMap()
        position = list(document).index("tools") if "tools" in document else len(document)
        document.insert(position, "flags", flags)
        document.yaml_set_comment_before_after_key(
            "flags",
            before="Rules for every tool that touches what a flag names, also tools the\n"
            "server lists later (the scanned tools carry the same rules in their entries)",
        )
    if not isinstance(flags, CommentedMap):
        raise DocumentError("`flags` must be a mapping")
    for flag, entry in wanted.items():
        if flag not in flags:
            flags[flag] = to_node(entry)
            merge.added_flags.append(flag)


def _add_tools(tools_map: CommentedMap, new_tools: Sequence[ScannedTool], merge: Merge) -> None:
    previous: Category | None = None
    for tool in new_tools:
        tools_map[tool.name] = to_node(tool_entry(tool))
        comment = tool_comment(tool)
        if tool.category is not previous:
            count = sum(1 for other in new_tools if other.category is tool.category)
            comment = f"{category_heading(tool.category, count)}\n\n{comment}"
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
    wanted += [
        case
        for flag in merge.added_flags
        if (case := flag_case(flag, merge.default, UNSEEN_TOOL)) is not None
    ]
    wanted.append(default_case(merge.default, UNSEEN_TOOL))
    for case in wanted:
        if case["name"] not in names:
            cases.append(to_node(case))
            names.add(case["name"])
            merge.added_cases += 1
    return dump_yaml(document)
