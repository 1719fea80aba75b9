"""What `callgate scan` recommends for each tool and category, as plain data. Pure.

Per category: read is allowed; write is rate-limited (30 an hour); execute is
rate-limited (10 a minute) with argument validation; destructive and financial need
approval. A financial tool with an amount argument also gets a daily spend counter.
Every tool gets an entry pinning its category (so the policy says what the scan found and
the user can override it), a comment explaining the classification, and test cases that
check the recommended behaviour.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callgate.classifier import Category, Classification, classify_tool
from callgate.classifier.lexicon import MONEY_PROPERTIES

WRITE_LIMIT: dict[str, Any] = {"max": 30, "window": "hour"}
EXECUTE_LIMIT: dict[str, Any] = {"max": 10, "window": "minute"}
# A placeholder the user is told to adjust: the unit of `amount` differs between servers.
DAILY_SPEND_LIMIT = 1000

RULE_WRITE = "write: 30 calls per hour"
RULE_EXECUTE = "execute: 10 calls per minute"
RULE_DESTRUCTIVE = "destructive: approval required"
RULE_FINANCIAL = "financial: approval required"

_DESCRIPTION_WIDTH = 96
_DESCRIPTION_CHARS = 300


@dataclass(frozen=True, slots=True)
class ScannedTool:
    """A tool as listed by the server, with the classifier's verdict."""

    definition: Mapping[str, Any]
    classification: Classification

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.classification.name

    @property
    def category(self) -> Category:
        """The classifier's category."""
        return self.classification.category

    def parameters(self) -> dict[str, Any]:
        """The input schema's top-level properties (empty when there are none)."""
        schema = self.definition.get("inputSchema")
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        return dict(properties) if isinstance(properties, Mapping) else {}

    def required(self) -> set[str]:
        """The input schema's required property names."""
        schema = self.definition.get("inputSchema")
        required = schema.get("required") if isinstance(schema, Mapping) else None
        return {str(name) for name in required} if isinstance(required, list) else set()

    def money_argument(self) -> str | None:
        """The argument holding an amount of money, if the tool has one."""
        names = self.parameters()
        for candidate in ("amount", *sorted(MONEY_PROPERTIES)):
            if candidate in names:
                return candidate
        return None


def scan_tools(definitions: Sequence[Mapping[str, Any]]) -> list[ScannedTool]:
    """Classify every tool; the result is ordered most dangerous category first, then by name.

    A name listed twice (a server repeating itself across pages) counts once, as last listed.
    """
    by_name = {str(tool.get("name")): tool for tool in definitions}
    scanned = [ScannedTool(tool, classify_tool(tool)) for tool in by_name.values()]
    return sorted(scanned, key=lambda tool: (-tool.category.rank, tool.name))


def category_rules(category: Category) -> dict[str, Any] | None:
    """The recommended `categories:` entry for a category (None: nothing to add)."""
    if category is Category.WRITE:
        return {"rules": [{"name": RULE_WRITE, "rate_limit": dict(WRITE_LIMIT)}]}
    if category is Category.EXECUTE:
        return {
            "validate_arguments": True,
            "rules": [{"name": RULE_EXECUTE, "rate_limit": dict(EXECUTE_LIMIT)}],
        }
    if category is Category.DESTRUCTIVE:
        return {
            "rules": [
                {
                    "name": RULE_DESTRUCTIVE,
                    "action": "require_approval",
                    "reason": "destructive tools need a person's approval",
                }
            ]
        }
    if category is Category.FINANCIAL:
        return {
            "rules": [
                {
                    "name": RULE_FINANCIAL,
                    "action": "require_approval",
                    "reason": "tools that touch money need a person's approval",
                }
            ]
        }
    return None


def category_comment(category: Category) -> str:
    """What the recommended rules of a category do, in a few words."""
    return {
        Category.READ: "allowed",
        Category.WRITE: "rate-limited to 30 calls an hour per session",
        Category.EXECUTE: "10 calls a minute per session; arguments checked against the "
        "tool's input schema",
        Category.DESTRUCTIVE: "every call waits for a person's approval",
        Category.FINANCIAL: "every call waits for approval; tools with an amount argument "
        "also have a daily spend cap",
    }[category]


def spend_rule_name(tool: ScannedTool) -> str:
    """The name of a financial tool's daily spend rule."""
    return f"{tool.name}: daily spend"


def tool_entry(tool: ScannedTool) -> dict[str, Any]:
    """The recommended `tools:` entry: the pinned category, plus a spend counter if any."""
    entry: dict[str, Any] = {"category": tool.category.value}
    money = tool.money_argument()
    if tool.category is Category.FINANCIAL and money is not None:
        entry["rules"] = [
            {
                "name": spend_rule_name(tool),
                "conditions": [
                    {
                        "path": f"state.{tool.name}.daily_spend",
                        "op": "lte",
                        "value": DAILY_SPEND_LIMIT,
                    }
                ],
                "on_deny": f"daily spend cap of {DAILY_SPEND_LIMIT} ({money}) reached",
                "state": {
                    "counter": "daily_spend",
                    "window": "day",
                    "increment_from": f"args.{money}",
                },
            }
        ]
    return entry


def tool_comment(tool: ScannedTool) -> str:
    """The comment above a tool's entry: what it is and why it got its category."""
    result = tool.classification
    lines: list[str] = []
    # The first paragraph says what the tool does; argument docs follow in the schema.
    summary = _text(tool.definition.get("description")).strip().split("\n\n", 1)[0]
    description = " ".join(summary.split())
    if len(description) > _DESCRIPTION_CHARS:
        description = description[: _DESCRIPTION_CHARS - 3].rstrip() + "..."
    lines += textwrap.wrap(description or "(no description)", _DESCRIPTION_WIDTH) or [""]
    parameters = tool.parameters()
    if parameters:
        required = tool.required()
        described = ", ".join(
            f"{name}{'' if name in required else '?'}{_type_of(spec)}"
            for name, spec in parameters.items()
        )
        lines += textwrap.wrap(f"parameters: {described}", _DESCRIPTION_WIDTH)
    else:
        lines.append("parameters: none")
    lines.append(
        f"{result.category.value}, severity {result.severity.value}, confidence "
        f"{result.confidence.value} ({result.score:.2f})"
    )
    for reason in result.reasons:
        lines += textwrap.wrap(
            f"- {reason}", _DESCRIPTION_WIDTH, subsequent_indent="  ", break_long_words=False
        )
    if tool.category is Category.FINANCIAL and tool.money_argument() is not None:
        lines.append(f"adjust the daily spend cap below to the unit of `{tool.money_argument()}`")
    return "\n".join(lines)


# What the first call of each category is expected to get, and the rule that decides it.
_FIRST_CALL: dict[Category, tuple[str, str, str | None]] = {
    Category.READ: ("read, allowed", "allow", None),
    Category.WRITE: ("write, allowed", "allow", None),
    Category.EXECUTE: ("execute, allowed", "allow", None),
    Category.DESTRUCTIVE: ("destructive, needs approval", "approval_required", RULE_DESTRUCTIVE),
    Category.FINANCIAL: ("financial, needs approval", "approval_required", RULE_FINANCIAL),
}
# Rate-limited categories: the case for the call just past the limit.
_PAST_LIMIT: dict[Category, tuple[str, str, int]] = {
    Category.WRITE: ("the 31st write of the hour is rate-limited", RULE_WRITE, WRITE_LIMIT["max"]),
    Category.EXECUTE: (
        "the 11th run of the minute is rate-limited",
        RULE_EXECUTE,
        EXECUTE_LIMIT["max"],
    ),
}


def recommended_cases(tool: ScannedTool) -> list[dict[str, Any]]:
    """Cases that check the recommended behaviour for one tool."""
    name, category = tool.name, tool.category
    args = _sample_args(tool)
    title, expect, rule = _FIRST_CALL[category]
    first = _case(f"{name}: {title}", name, args, expect, rule=rule)
    if category is Category.EXECUTE:
        first["validate_arguments"] = True
    cases = [first]
    if category in _PAST_LIMIT:
        title, rule_name, limit = _PAST_LIMIT[category]
        cases.append(
            _case(
                f"{name}: {title}",
                name,
                args,
                "rate_limited",
                rule=rule_name,
                counters={rule_name: limit},
            )
        )
    if category is Category.FINANCIAL and tool.money_argument() is not None:
        cases.append(
            _case(
                f"{name}: beyond the daily spend cap is denied",
                name,
                args,
                "deny",
                rule=spend_rule_name(tool),
                counters={f"{name}.daily_spend": DAILY_SPEND_LIMIT},
            )
        )
    return cases


def default_case(default: str, unknown: str) -> dict[str, Any]:
    """A case for a tool the scan did not see: `default` decides it."""
    return _case(
        f"a tool the scan did not see follows default: {default}",
        unknown,
        {},
        "allow" if default == "allow" else "deny",
        rule=None if default == "allow" else "default",
    )


def _case(
    name: str,
    tool: str,
    args: dict[str, Any],
    expect: str,
    *,
    rule: str | None = None,
    counters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    case: dict[str, Any] = {"name": name, "tool": tool, "args": dict(args), "expect": expect}
    if rule is not None:
        case["rule"] = rule
    if counters:
        case["counters"] = dict(counters)
    return case


def _sample_args(tool: ScannedTool) -> dict[str, Any]:
    money = tool.money_argument()
    return {money: 1} if money is not None else {}


def _type_of(spec: object) -> str:
    if isinstance(spec, Mapping) and isinstance(spec.get("type"), str):
        return f" ({spec['type']})"
    return ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
