"""What `callgate scan` writes for each tool, as plain data. Pure.

Every tool gets an entry pinning the classifier's category (and its flags, when it has
any), so the policy says what the scan found and the user can override it, followed by
the rules `callgate.catalogue.recommend` recommends for it: the same a risk card shows
(argument allowlists, approvals, a spend cap, a rate limit). Above the entry, a comment
says what the tool does and why the classifier decided as it did; the recommendation's
test cases go to the test file. When some tool touches credentials, the policy also gets
a `flags:` entry asking for approval, which covers tools the server lists later.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callgate.catalogue.card import deciding_sentence, findings_by_tool
from callgate.catalogue.definition import ToolDefinition, read_definition, summarize
from callgate.catalogue.recommend import (
    RULE_CREDENTIALS,
    Recommendation,
    build_case,
    flag_entries,
    recommend,
)
from callgate.classifier import Category, Classification, Flag, classify_tool
from callgate.integrity.poisoning import Finding, scan_servers
from callgate.integrity.unicode import strip_control

_COMMENT_WIDTH = 96
_SUMMARY_CHARS = 300

# What each category means (TAXONOMY.md), for the heading above its group of tools.
CATEGORY_MEANING = {
    Category.READ: "only retrieves or computes; nothing in the world changes",
    Category.WRITE: "creates or modifies data or configuration; the change can be undone",
    Category.EXECUTE: "runs or sends something whose effects cannot simply be undone",
    Category.DESTRUCTIVE: "deletes or irreversibly overwrites or revokes",
    Category.FINANCIAL: "moves money, or creates or changes an object that charges someone",
}


@dataclass(frozen=True, slots=True)
class ScannedTool:
    """A tool as listed by the server, the classifier's verdict and the recommendation."""

    definition: Mapping[str, Any]
    classification: Classification
    recommendation: Recommendation
    findings: tuple[Finding, ...] = ()  # what the poisoning scan found in the definition

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.classification.name

    @property
    def category(self) -> Category:
        """The classifier's category."""
        return self.classification.category

    @property
    def tool(self) -> ToolDefinition:
        """The definition, read."""
        return read_definition(self.definition)


def scan_tools(definitions: Sequence[Mapping[str, Any]]) -> list[ScannedTool]:
    """Classify every tool and recommend its rules; most dangerous category first, then name.

    A name listed twice (a server repeating itself across pages) counts once, as last
    listed. A tool without a name cannot be named in a policy and is left out.
    """
    by_name = {str(tool.get("name", "")): tool for tool in definitions}
    findings = findings_by_tool(scan_servers({"": list(by_name.values())}))
    scanned: list[ScannedTool] = []
    for name, tool in by_name.items():
        result = classify_tool(tool)
        recommendation = recommend(read_definition(tool), result)
        if recommendation is not None:
            found = tuple(findings.get(name, ()))
            scanned.append(ScannedTool(tool, result, recommendation, found))
    return sorted(scanned, key=lambda tool: (-tool.category.rank, tool.name))


def tool_entry(tool: ScannedTool) -> dict[str, Any]:
    """The `tools:` entry: the pinned category and flags, then the recommended rules."""
    entry: dict[str, Any] = {"category": tool.category.value}
    if tool.classification.flags:
        entry["flags"] = [flag.value for flag in tool.classification.flags]
    entry.update(tool.recommendation.entry)
    return entry


def tool_comment(tool: ScannedTool) -> str:
    """The comment above a tool's entry: what it does and how the classifier decided."""
    result = tool.classification
    definition = tool.tool
    lines = findings_comment(tool.findings)
    lines += _wrap(
        strip_control(summarize(definition.description, _SUMMARY_CHARS)) or "(no description)"
    )
    if definition.parameters:
        described = ", ".join(
            f"{p.name}{'' if p.required else '?'}{f' ({p.type_text})' if p.types else ''}"
            for p in definition.parameters
        )
        lines += _wrap(f"parameters: {described}")
    else:
        lines.append("parameters: none")
    lines.append(
        f"{result.category.value}, severity {result.severity.value}, confidence "
        f"{result.confidence.value} ({result.score:.2f})"
    )
    flags = ", ".join(flag.value for flag in result.flags) or "none"
    lines += _wrap(f"flags: {flags}")
    decided_by = deciding_sentence(result)
    lines += _wrap(f"decided by: {decided_by}", indent="  ")
    for reason in result.reasons:
        if reason not in (decided_by, result.decided_by):
            lines += _wrap(f"- {reason}", indent="  ")
    for doubt in result.doubts:
        lines += _wrap(f"- lowered by: {doubt}", indent="  ")
    for todo in (*tool.recommendation.placeholders, *tool.recommendation.notes):
        lines += _wrap(f"to do: {todo}", indent="  ")
    return "\n".join(lines)


def findings_comment(findings: Sequence[Finding]) -> list[str]:
    """Comment lines warning of what the poisoning scan found (none when it found nothing)."""
    if not findings:
        return []
    lines = _wrap(
        f"POISONING SCAN: {len(findings)} finding(s); read this tool's definition before "
        "you allow it"
    )
    for finding in findings:
        lines += _wrap(
            f"- {finding.severity.value}: {finding.message} ({finding.where} "
            f"[{finding.span[0]}:{finding.span[1]}]: {finding.text})",
            indent="  ",
        )
    return lines


def category_heading(category: Category, count: int) -> str:
    """The comment that opens a category's group of tools."""
    return f"==== {category.value} ({count}) ====\n{category.value}: {CATEGORY_MEANING[category]}"


def recommended_cases(tool: ScannedTool) -> list[dict[str, Any]]:
    """The cases that show each recommended rule of the tool firing."""
    return [dict(case) for case in tool.recommendation.cases]


def scanned_flags(tools: Iterable[ScannedTool]) -> dict[str, dict[str, Any]]:
    """The recommended `flags:` entries for the flags these tools carry."""
    return flag_entries(flag for tool in tools for flag in tool.classification.flags)


def flag_case(flag: str, default: str, unknown: str) -> dict[str, Any] | None:
    """A case showing a flag entry fire for a tool the scan did not see (None: it cannot)."""
    if default != "allow" or flag != Flag.CREDENTIALS.value:
        return None  # under default: deny the unseen tool is denied before any flag entry
    return build_case(
        f"a new tool that touches {flag} needs approval",
        unknown,
        {},
        "approval_required",
        rule=RULE_CREDENTIALS,
        flags=[flag],
    )


def default_case(default: str, unknown: str) -> dict[str, Any]:
    """A case for a tool the scan did not see: `default` decides it."""
    return build_case(
        f"a tool the scan did not see follows default: {default}",
        unknown,
        {},
        "allow" if default == "allow" else "deny",
        rule=None if default == "allow" else "default",
    )


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        " ".join(text.split()),
        _COMMENT_WIDTH,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [""]
