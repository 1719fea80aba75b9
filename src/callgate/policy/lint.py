"""`validate --strict`: a policy that loads but probably does not mean what it says.

Findings (each a `PolicyIssue` with a stable code and a position):

- `unreachable-rule`: a rule after an unconditional `deny` (not in shadow mode) in the same
  entry; the rules of a hidden tool (a hidden tool is refused before any rule runs); under
  `default: deny` nothing is wrong with `"*"`, but a category or flag entry never lists a
  tool, so that is noted;
- `shadowed-pattern`: an exact entry whose name a pattern entry also matches: the
  pattern's rules do not apply to that tool (an exact entry shadows every pattern);
- `unused-counter`: a `state` counter that no condition reads: it counts, but limits nothing;
- `unknown-argument` (with the server's tool list): a condition on `args.X` where the tool
  has no argument `X` (the condition then fails, or passes, on every call);
- a `regex` allow-condition that does not start with `^` (`invalid-condition`): it matches
  anywhere in the value, so `main` also lets `not-main` through.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from callgate.errors import IssueCode, PolicyIssue
from callgate.policy.compiler import CompiledEntry, CompiledPolicy, CompiledRule
from callgate.policy.loader import source_of
from callgate.policy.paths import parse_path
from callgate.policy.patterns import EntryKind
from callgate.policy.schema import Action, ConditionSpec
from callgate.policy.source import Loc, SourceMap


def lint_policy(
    policy: CompiledPolicy, tools: Sequence[Mapping[str, Any]] | None = None
) -> list[PolicyIssue]:
    """Every strict finding for `policy`, sorted by position."""
    source = source_of(policy.spec)
    findings: list[PolicyIssue] = []
    findings += _unreachable(policy, source)
    findings += _shadowed(policy, source)
    findings += _unused_counters(policy, source)
    findings += _loose_regexes(policy, source)
    if tools is not None:
        findings += _unknown_arguments(policy, tools, source)
    return sorted(findings, key=PolicyIssue.sort_key)


def _entries(policy: CompiledPolicy) -> Iterator[tuple[Loc, CompiledEntry]]:
    for key, entry in policy.tools.items():
        yield ("tools", key), entry
    for _, entry in policy.patterns:
        yield ("tools", entry.key), entry
    if policy.wildcard is not None:
        yield ("tools", "*"), policy.wildcard
    for key, entry in policy.categories.items():
        yield ("categories", key), entry
    for key, entry in policy.flags.items():
        yield ("flags", key), entry


def _rule_loc(entry_loc: Loc, rule: CompiledRule) -> Loc:
    return (*entry_loc, "rules", rule.index)


def _unreachable(policy: CompiledPolicy, source: SourceMap) -> list[PolicyIssue]:
    found: list[PolicyIssue] = []
    for loc, entry in _entries(policy):
        if entry.kind in (EntryKind.TOOL, EntryKind.PATTERN) and entry.rules:
            hidden = policy.is_hidden(entry.key) if entry.kind is EntryKind.TOOL else False
            if hidden:
                found.append(
                    source.issue(
                        IssueCode.UNREACHABLE_RULE,
                        loc,
                        f"tool {entry.key!r} is hidden, so its rules never run",
                        "remove it from hide, or drop its rules",
                    )
                )
                continue
        blocker: CompiledRule | None = None
        for rule in entry.rules:
            if blocker is not None:
                found.append(
                    source.issue(
                        IssueCode.UNREACHABLE_RULE,
                        _rule_loc(loc, rule),
                        f"rule {rule.name!r} never runs: rule {blocker.name!r} before it "
                        "denies every call",
                        "move it before the deny rule, or remove it",
                    )
                )
            elif rule.action is Action.DENY and not rule.shadow:
                blocker = rule  # a deny in shadow mode stops nothing: later rules still run
    if policy.default_deny:
        for block, noun, keys in (
            ("categories", "category", policy.categories),
            ("flags", "flag", policy.flags),
        ):
            found += [
                source.issue(
                    IssueCode.UNREACHABLE_RULE,
                    (block, key),
                    f"with default: deny a {noun} entry never lets an unlisted tool through; "
                    "its rules apply only to tools listed under tools:",
                    "list the tools (or a pattern) under tools: to allow them",
                )
                for key in keys
            ]
    return found


def _shadowed(policy: CompiledPolicy, source: SourceMap) -> list[PolicyIssue]:
    found: list[PolicyIssue] = []
    for name in policy.tools:
        for pattern, entry in policy.patterns:
            if pattern.matches(name) and entry.rules:
                found.append(
                    source.issue(
                        IssueCode.SHADOWED_PATTERN,
                        ("tools", name),
                        f"pattern {pattern.text!r} matches {name!r}, but the exact entry "
                        "shadows it: the pattern's rules do not apply to this tool",
                        "copy the pattern's rules into this entry if they should apply",
                    )
                )
    return found


def _unused_counters(policy: CompiledPolicy, source: SourceMap) -> list[PolicyIssue]:
    read = {
        (counter.tool, counter.name)
        for _, entry in _entries(policy)
        for rule in entry.rules
        for counter in rule.reads
    }
    found: list[PolicyIssue] = []
    for loc, entry in _entries(policy):
        for rule in entry.rules:
            counter = rule.counter
            if counter is not None and (counter.tool, counter.name) not in read:
                found.append(
                    source.issue(
                        IssueCode.UNUSED_COUNTER,
                        (*_rule_loc(loc, rule), "state", "counter"),
                        f"counter state.{counter.path} is counted but no condition reads it, "
                        "so it limits nothing",
                        f"add a condition such as {{path: state.{counter.path}, op: lte, "
                        "value: 100}",
                    )
                )
    return found


def _leaves(condition: ConditionSpec, loc: Loc) -> Iterator[tuple[ConditionSpec, Loc, bool]]:
    """Leaf conditions with their position and whether they are negated."""
    stack: list[tuple[ConditionSpec, Loc, bool]] = [(condition, loc, False)]
    while stack:
        node, where, negated = stack.pop()
        if node.path is not None:
            yield node, where, negated
        for word, group in (("any", node.any_), ("all", node.all_)):
            for number, child in enumerate(group or ()):
                stack.append((child, (*where, word, number), negated))
        if node.not_ is not None:
            stack.append((node.not_, (*where, "not"), not negated))


def _rule_leaves(loc: Loc, rule: CompiledRule) -> Iterator[tuple[ConditionSpec, Loc, bool]]:
    # A compiled policy kept every condition, so positions match the file's list.
    for index, condition in enumerate(rule.conditions):
        yield from _leaves(condition.spec, (*_rule_loc(loc, rule), "conditions", index))


def _loose_regexes(policy: CompiledPolicy, source: SourceMap) -> list[PolicyIssue]:
    found: list[PolicyIssue] = []
    for loc, entry in _entries(policy):
        for rule in entry.rules:
            if rule.action is not Action.EVALUATE:
                continue
            for leaf, where, negated in _rule_leaves(loc, rule):
                value = leaf.value
                if leaf.op != "regex" or negated or not isinstance(value, str):
                    continue
                if not value.startswith("^"):
                    found.append(
                        source.issue(
                            IssueCode.INVALID_CONDITION,
                            (*where, "value"),
                            f"regex {value!r} is not anchored, so it matches anywhere in "
                            "the value and lets more calls through than it seems to",
                            f"anchor it: '^{value}' for a prefix, '^{value.rstrip('$')}$' "
                            "for the whole value",
                        )
                    )
    return found


def _unknown_arguments(
    policy: CompiledPolicy, tools: Sequence[Mapping[str, Any]], source: SourceMap
) -> list[PolicyIssue]:
    found: list[PolicyIssue] = []
    for tool in tools:
        name = tool.get("name")
        schema = tool.get("inputSchema")
        if not isinstance(name, str) or not isinstance(schema, Mapping):
            continue
        properties = schema.get("properties")
        if not isinstance(properties, Mapping) or schema.get("additionalProperties") is True:
            continue
        entry = policy.tools.get(name)
        if entry is None:
            continue
        for rule in entry.rules:
            for leaf, where, _ in _rule_leaves(("tools", name), rule):
                root, segments = parse_path(leaf.path or "")
                if root == "args" and segments and segments[0] not in properties:
                    found.append(
                        source.issue(
                            IssueCode.UNKNOWN_ARGUMENT,
                            (*where, "path"),
                            f"tool {name!r} has no argument {segments[0]!r}, so this "
                            "condition sees a missing value on every call",
                            "arguments: " + ", ".join(sorted(map(str, properties))),
                        )
                    )
    return found
