"""Validated `PolicySpec` → `CompiledPolicy`: all the slow work, done once.

Compiling indexes entries by tool name, orders patterns by precedence, resolves category
and flag entries, compiles every condition (paths parsed, regexes compiled) into one
predicate per rule, checks every `state.` reference against a defined counter, refuses
duplicate counters, and turns `rate_limit` and `state` into counter definitions. Every
problem is collected with its position; `PolicyError` carries them all.

Counters (Intercept semantics):
- a `state` block under tool `T` defines counter `T.<counter>`; under `"*"` it defines
  `_global.<counter>`; it is read as `state.T.<counter>` / `state._global.<counter>`,
  summed over a UTC calendar window, scoped `global` unless `scope:` says otherwise;
- a condition of a rule on **its own** counter with `lt`/`lte` sees the value the counter
  would have after this call (Intercept checks that limit when it reserves), every other
  condition sees the current value;
- `rate_limit` becomes a sliding-window limit named `rate:<entry>/<rule>`, scoped
  `session` unless `scope:` says otherwise; the store enforces it atomically.

Conditions that cannot be judged (a missing argument, a type the operator does not take,
a wildcard over no list or an empty one) answer what stops the call, never what lets it
through:
- an `evaluate` rule denies unless its conditions hold, so its leaves answer False
  (Intercept's rule: Intercept files have only `evaluate`, `deny` and rate limits, so
  their meaning is unchanged);
- a `require_approval` rule asks for approval when its conditions hold, so its leaves
  answer True: "approval when `args.amount gt 50000`" asks when the amount is missing;
- `not` flips the answer its leaves must give, `any` and `all` pass it on unchanged, so
  `not(args.env eq "prod")` is False for a call without `env` in an `evaluate` rule.
`deny` and `rate_limit` rules have no conditions.
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from callgate.audit.redaction import ArgumentRecording, compile_recording
from callgate.errors import IssueCode, PolicyError, PolicyIssue
from callgate.policy.conditions import ConditionError, Predicate, compile_condition
from callgate.policy.decision import Decision, Facts, ToolCall, Verdict
from callgate.policy.loader import (
    data_loc,
    paused_gc,
    read_policy,
    source_of,
    validate_policy_data,
)
from callgate.policy.paths import Resolver, compile_walk, parse_path
from callgate.policy.patterns import (
    WILDCARD,
    Applicable,
    EntryKind,
    ToolPattern,
    is_pattern,
    order_patterns,
    select_entries,
)
from callgate.policy.schema import (
    WINDOW_SECONDS,
    Action,
    AgentSpec,
    ApprovalsSpec,
    CategorySpec,
    ConditionSpec,
    IntegritySpec,
    Mode,
    PolicySpec,
    ResultsSpec,
    RuleSpec,
)
from callgate.policy.source import Loc, SourceMap, suggest
from callgate.results.guard import InjectionAction, ResultRules
from callgate.state.amounts import subtract
from callgate.state.counters import (
    UNGUARDED,
    Charge,
    CounterKey,
    Guard,
    Scope,
    Window,
    WindowKind,
)

GLOBAL_TOOL = "_global"
PROJECTED = "_projected"
"""Subject key holding the subject as it would be after this call's own counter charge."""

_PROJECTED_OPS = frozenset({"lt", "lte"})
ORDER_OPS = frozenset({"lt", "lte", "gt", "gte"})
"""Operators whose outcome on a counter changes at one threshold (guards are ranges)."""
_PLAN_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class CompiledCounter:
    """An Intercept `state` counter: read as `state.<tool>.<name>`, charged per allowed call."""

    tool: str
    name: str
    window: Window
    scope: Scope
    increment: Decimal
    increment_from: Resolver | None
    increment_from_text: str | None
    rule: str
    key_name: str = ""
    """The name in the store's key: the path, or `rate:...` for a rate-limit alias."""
    path: str = ""
    """The counter's name in `Facts.counters`: `<tool>.<counter>`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", f"{self.tool}.{self.name}")
        if not self.key_name:
            object.__setattr__(self, "key_name", self.path)


@dataclass(frozen=True, slots=True)
class CompiledRateLimit:
    """At most `limit` calls in any sliding window of `window.seconds`, per scope."""

    name: str
    limit: int
    window: Window
    scope: Scope
    message: str


@dataclass(frozen=True, slots=True)
class StateLeaf:
    """A leaf condition that reads a counter, as the engine needs it to build guards.

    `threshold` is the number an `lt`/`lte`/`gt`/`gte` leaf compares with (None for every
    other operator: the guard then pins the exact value); `projected` leaves compare the
    value after this call's own charge. `guards` are the ranges (leaf held, leaf failed)
    when they do not depend on the call: every ordering leaf but a projected one whose
    charge comes from an argument.
    """

    counter: CompiledCounter
    op: str
    threshold: Decimal | None
    projected: bool
    guards: tuple[Guard, Guard] | None = None


ORDER_TESTS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def bound_guard(op: str, threshold: Decimal, *, holds: bool) -> Guard:
    """The range of a counter in which a leaf `value <op> threshold` keeps the outcome
    `holds`: the leaf's own side, or its complement (`lt` <-> `gte`, `lte` <-> `gt`)."""
    below = op in ("lt", "lte")
    inclusive = op in ("lte", "gte")
    if not holds:
        below, inclusive = not below, not inclusive
    if below:
        return UNGUARDED.below(threshold, inclusive=inclusive)
    return UNGUARDED.above(threshold, inclusive=inclusive)


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """One condition as written (for explanations) and its predicate.

    `unknown` is what the condition answers when it cannot judge the call (see
    "Conditions that cannot be judged" in the module docstring).
    """

    spec: ConditionSpec
    predicate: Predicate
    children: tuple[CompiledCondition, ...] = ()
    projected: bool = False
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to evaluate: one predicate for all its conditions."""

    name: str
    action: Action
    entry: str
    index: int
    message: str | None
    conditions: tuple[CompiledCondition, ...]
    predicate: Predicate | None
    rate_limit: CompiledRateLimit | None
    counter: CompiledCounter | None
    reads: tuple[CompiledCounter, ...]
    reads_agent: bool
    projects: bool
    approval_timeout: float | None
    denial: Decision | None = None
    """The DENY decision when the author wrote its text (the same for every tool)."""
    watches: tuple[StateLeaf, ...] = ()
    """Every leaf condition that reads a counter (the engine's guards come from these)."""
    shadow: bool = False
    """Shadow mode (its own `mode:`, else the policy's): what it would decide is recorded,
    the call goes on as if the rule were absent."""


@dataclass(frozen=True, slots=True)
class CompiledEntry:
    """A tool, pattern, category, flag or `"*"` entry with its compiled rules.

    `category` and `flags` are a tool entry's overrides of the classifier's (None: not set).
    """

    kind: EntryKind
    key: str
    rules: tuple[CompiledRule, ...]
    category: str | None = None
    validate_arguments: bool | None = None
    flags: tuple[str, ...] | None = None
    results: ResultsSpec | None = None
    """The entry's `results:` (None: it sets none)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What applies to one (tool, category, flags): the entries, in order, and what they read."""

    entries: tuple[Applicable[CompiledEntry], ...]
    listed: bool
    reads: tuple[CompiledCounter, ...]
    reads_agent: bool
    validate_arguments: bool
    allow: Decision
    """The decision when every rule passes and nothing is charged (shared, immutable)."""
    denials: dict[int, Decision] = field(default_factory=dict, compare=False)
    """Denials whose reason names the tool (by a rule without its own text, or by
    `default: deny`), by id of the rule (id(None) for the default), built on first use."""
    results: ResultRules | None = None
    """The result guard for the tool's results (None: its results are not read)."""


@dataclass(slots=True)
class CompiledPolicy:
    """A policy ready to judge calls; build it with `compile_policy`."""

    spec: PolicySpec
    default_deny: bool
    hide_all: bool
    hidden_names: frozenset[str]
    hidden_patterns: tuple[ToolPattern, ...]
    tools: dict[str, CompiledEntry]
    patterns: tuple[tuple[ToolPattern, CompiledEntry], ...]
    categories: dict[str, CompiledEntry]
    flags: dict[str, CompiledEntry]
    """The `flags:` entries by flag, in file order (their order of precedence)."""
    wildcard: CompiledEntry | None
    counters: dict[tuple[str, str], CompiledCounter]
    rate_limits: dict[str, CompiledRateLimit]
    uses_flags: bool = field(init=False)
    """Whether the policy has flag entries: only then do a tool's flags matter (and the
    proxy looks them up)."""
    shadow_mode: bool = field(init=False)
    """`mode: shadow`: rules without a `mode:` of their own, and `default: deny`, only
    record what they would decide."""
    audit_recording: ArgumentRecording = field(init=False)
    """What the audit log keeps of a call's arguments (`audit:`), compiled."""
    guards_results: bool = field(init=False)
    """Whether any `results:` block is set: only then are results read (`result_rules`)."""
    _plans: dict[tuple[str, str | None, tuple[str, ...]], Plan] = field(default_factory=dict)
    _hidden_by_pattern: dict[str, bool] = field(default_factory=dict)
    # Counter keys and fixed charges by (server, scope key, name): built once, reused.
    memo: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.uses_flags = bool(self.flags)
        self.shadow_mode = self.spec.mode is Mode.SHADOW
        audit = self.spec.audit
        self.audit_recording = compile_recording(audit.arguments, audit.redact_keys)
        entries = (*self.tools.values(), *self.categories.values(), *self.flags.values())
        entries += tuple(entry for _, entry in self.patterns)
        if self.wildcard is not None:
            entries += (self.wildcard,)
        self.guards_results = self.spec.results is not None or any(
            entry.results is not None for entry in entries
        )

    @property
    def annotate_tools(self) -> bool:
        """True when `annotate_tools: true`: listed tools carry their risk in `_meta`."""
        return self.spec.annotate_tools

    @property
    def fail_open(self) -> bool:
        """True when `fail_mode: open`: calls go through when the state store is down."""
        return self.spec.fail_mode == "open"

    @property
    def fail_mode(self) -> str:
        """`closed` (default) or `open`."""
        return self.spec.fail_mode

    @property
    def approvals(self) -> ApprovalsSpec:
        """Defaults for require_approval rules (mode, timeout, approvers, webhook)."""
        return self.spec.approvals

    @property
    def integrity(self) -> IntegritySpec | None:
        """Tool pinning (`integrity:`), None when the policy pins nothing."""
        return self.spec.integrity

    @property
    def agents(self) -> tuple[AgentSpec, ...]:
        """Agent identities for the HTTP listener."""
        return tuple(self.spec.agents)

    def is_hidden(self, tool: str) -> bool:
        """True when `tool` is removed from `tools/list` and refused on `tools/call`."""
        if self.hide_all or tool in self.hidden_names:
            return True
        if not self.hidden_patterns:
            return False
        found = self._hidden_by_pattern.get(tool)
        if found is None:
            found = any(pattern.matches(tool) for pattern in self.hidden_patterns)
            if len(self._hidden_by_pattern) >= _PLAN_CACHE_SIZE:
                self._hidden_by_pattern.clear()  # bounded, like the plans
            self._hidden_by_pattern[tool] = found
        return found

    def rate_limit_reason(self, charge: Charge) -> str:
        """The text an agent sees when the store refuses this rate-limit charge.

        The rule's `on_deny` when it has one, else Intercept's wording
        ("Rate limit of 5 per hour reached. Try again later.").
        """
        limit = self.rate_limits.get(charge.key.name)
        if limit is not None:
            return limit.message
        return f"rate limit of {charge.limit} per {charge.key.window.seconds} s reached"

    def plan(self, tool: str, category: str | None, flags: tuple[str, ...] = ()) -> Plan:
        """The entries that apply to `tool` with the classifier's category and flags (cached:
        names repeat, the policy does not change). Without flag entries the proxy passes no
        flags, so the key stays one per (tool, category)."""
        cache_key = (tool, category, flags)
        found = self._plans.get(cache_key)
        if found is not None:
            return found
        entries = select_entries(
            tool,
            category,
            flags,
            exact=self.tools,
            patterns=self.patterns,
            categories=self.categories,
            by_flag=self.flags,
            wildcard=self.wildcard,
        )
        plan = _make_plan(entries, self.spec.results)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()  # bounded: unknown tool names must not grow it forever
        self._plans[cache_key] = plan
        return plan

    def result_rules(
        self, tool: str, category: str | None, flags: tuple[str, ...] = ()
    ) -> ResultRules | None:
        """The result guard for `tool`'s results; None when nothing is to be read."""
        if not self.guards_results:
            return None
        return self.plan(tool, category, flags).results

    def evaluate(self, call: ToolCall, facts: Facts) -> Decision:
        """The decision for `call` (see `callgate.policy.engine.evaluate`)."""
        return _engine().evaluate(self, call, facts)

    def counter_keys(self, call: ToolCall, facts: Facts) -> dict[str, CounterKey]:
        """The counters the call's rules read (see `callgate.policy.engine.counter_keys`)."""
        if not self.plan(call.tool, facts.category, facts.flags).reads:
            return {}  # the common case, answered without the engine
        return _engine().counter_keys(self, call, facts)


class _Engine(Protocol):
    """What the compiled policy calls in `callgate.policy.engine`."""

    def evaluate(self, policy: CompiledPolicy, call: ToolCall, facts: Facts) -> Decision: ...

    def counter_keys(
        self, policy: CompiledPolicy, call: ToolCall, facts: Facts
    ) -> dict[str, CounterKey]: ...


@functools.cache
def _engine() -> _Engine:
    """The engine module (it imports this one, so it is imported on first use, once)."""
    import callgate.policy.engine  # noqa: PLC0415 - engine imports us

    return callgate.policy.engine


def _make_plan(
    entries: tuple[Applicable[CompiledEntry], ...], default_results: ResultsSpec | None = None
) -> Plan:
    reads: dict[tuple[str, str], CompiledCounter] = {}
    reads_agent = False
    validate: bool | None = None
    for applicable in entries:
        entry = applicable.entry
        if validate is None:
            validate = entry.validate_arguments
        for rule in entry.rules:
            reads_agent = reads_agent or rule.reads_agent
            for counter in rule.reads:
                reads[(counter.tool, counter.name)] = counter
    listed = bool(entries) and entries[0].kind in (EntryKind.TOOL, EntryKind.PATTERN)
    allow = Decision(Verdict.ALLOW, validate_arguments=bool(validate))
    results = resolve_results([a.entry.results for a in entries], default_results)
    return Plan(
        entries, listed, tuple(reads.values()), reads_agent, bool(validate), allow, results=results
    )


def resolve_results(
    specs: Sequence[ResultsSpec | None], default: ResultsSpec | None
) -> ResultRules | None:
    """The result guard from the entries' `results:` (most specific first) and the
    policy's default: each field from the first that sets it; None when nothing is read."""
    chain = [spec for spec in (*specs, default) if spec is not None]
    if not chain:
        return None
    redact = next((s.redact_secrets for s in chain if s.redact_secrets is not None), False)
    flag = next((s.flag_injection for s in chain if s.flag_injection is not None), False)
    action = next((s.on_injection for s in chain if s.on_injection is not None), "flag")
    if not (redact or flag):
        return None
    return ResultRules(redact, flag, InjectionAction(action))


def load_compiled_policy(source: str | Path) -> CompiledPolicy:
    """Load, validate and compile a policy file (or YAML text) in one step.

    When the file has schema errors, the compiler still checks what is valid (counter
    references, conditions, patterns), so one run reports every error.
    """
    with paused_gc():
        data, positions = read_policy(source)
        try:
            spec = validate_policy_data(data, positions)
        except PolicyError as error:
            raise PolicyError([*error.issues, *_issues_past_schema(data, positions)]) from None
        return compile_policy(spec)


_INVALID_RULE: dict[str, Any] = {"name": "(invalid)", "action": "deny"}


def _issues_past_schema(data: Any, positions: SourceMap) -> list[PolicyIssue]:
    """Compile errors of a policy whose schema errors are replaced by harmless stand-ins.

    An invalid rule becomes a plain deny rule (list positions stay put), an invalid entry
    an empty one, an invalid top-level key is dropped. Counter-reference errors are left
    out when a stand-in replaced a rule with a `state` block (the counter may be there).
    """
    if not isinstance(data, dict):
        return []
    pruned = copy.deepcopy(data)
    replaced_state = False
    for _ in range(8):
        try:
            spec = PolicySpec.model_validate(pruned)
            break
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc, _ = data_loc(tuple(error["loc"]), pruned)
                replaced_state |= _stand_in(pruned, loc)
    else:
        return []
    spec._source = positions
    try:
        compile_policy(spec)
    except PolicyError as error:
        return [
            issue
            for issue in error.issues
            if not (replaced_state and issue.code == IssueCode.UNKNOWN_COUNTER)
        ]
    return []


def _stand_in(data: dict[str, Any], loc: Loc) -> bool:
    """Replace the rule, entry or top-level key at `loc`; True when a `state` rule went."""
    for at in range(len(loc) - 1, 0, -1):
        if loc[at - 1] == "rules" and isinstance(loc[at], int):
            parent: Any = data
            for part in loc[: at - 1]:
                parent = parent[part]
            rules = parent["rules"]
            old = rules[loc[at]]
            rules[loc[at]] = dict(_INVALID_RULE)
            return isinstance(old, dict) and "state" in old
    block = str(loc[0]) if loc else ""
    entries = block in ("tools", "categories", "flags")
    if len(loc) >= 2 and entries and isinstance(data.get(block), dict):
        if block == "tools":
            data["tools"][loc[1]] = {}
            return True
        # The key itself may be what is wrong (no such category or flag); these entries
        # cannot define counters, so dropping one hides no counter.
        data[block].pop(loc[1], None)
        return False
    if loc and loc[0] != "version":
        data.pop(str(loc[0]), None)
        return entries
    data["version"] = "1"
    return False


def compile_policy(spec: PolicySpec) -> CompiledPolicy:
    """Compile a validated spec; raises `PolicyError` with every problem found."""
    with paused_gc():
        return _Compiler(spec, source_of(spec)).run()


@dataclass
class _Compiler:
    spec: PolicySpec
    source: SourceMap
    issues: list[PolicyIssue] = field(default_factory=list)
    counters: dict[tuple[str, str], CompiledCounter] = field(default_factory=dict)
    rate_limits: dict[str, CompiledRateLimit] = field(default_factory=dict)
    # Identical leaf conditions (common across tools) compile once; predicates are pure.
    predicates: dict[tuple[str, str, Hashable, bool], Predicate] = field(default_factory=dict)

    def fail(self, code: str, loc: Loc, message: str, hint: str = "") -> None:
        self.issues.append(self.source.issue(code, loc, message, hint))

    def run(self) -> CompiledPolicy:
        spec = self.spec
        self._define_counters()
        self._define_rate_aliases()
        tools: dict[str, CompiledEntry] = {}
        patterns: list[tuple[ToolPattern, CompiledEntry]] = []
        wildcard: CompiledEntry | None = None
        for key, tool in spec.tools.items():
            kind = (
                EntryKind.WILDCARD
                if key == WILDCARD
                else EntryKind.PATTERN
                if is_pattern(key)
                else EntryKind.TOOL
            )
            loc: Loc = ("tools", key)
            if not key:
                self.fail(IssueCode.INVALID_PATTERN, loc, "a tool name must not be empty")
            rules = self._rules(kind, key, tool.rules, loc)
            entry = CompiledEntry(
                kind,
                key,
                rules,
                tool.category,
                tool.validate_arguments,
                None if tool.flags is None else tuple(tool.flags),
                tool.results,
            )
            if kind is EntryKind.WILDCARD:
                wildcard = entry
            elif kind is EntryKind.PATTERN:
                patterns.append((ToolPattern.compile(key), entry))
            else:
                tools[key] = entry
        categories = self._entries_by(EntryKind.CATEGORY, "categories", spec.categories.items())
        flags = self._entries_by(EntryKind.FLAG, "flags", spec.flags.items())
        hidden_patterns = tuple(ToolPattern.compile(name) for name in spec.hide if is_pattern(name))
        if self.issues:
            raise PolicyError(self.issues)
        return CompiledPolicy(
            spec=spec,
            default_deny=spec.default == "deny",
            hide_all=WILDCARD in spec.hide,
            hidden_names=frozenset(name for name in spec.hide if not is_pattern(name)),
            hidden_patterns=hidden_patterns,
            tools=tools,
            patterns=order_patterns(patterns),
            categories=categories,
            flags=flags,
            wildcard=wildcard,
            counters=dict(self.counters),
            rate_limits=dict(self.rate_limits),
        )

    def _entries_by(
        self, kind: EntryKind, block: str, specs: Iterable[tuple[str, CategorySpec]]
    ) -> dict[str, CompiledEntry]:
        """The entries of a `categories:` or `flags:` block, keyed by value, in file order."""
        entries: dict[str, CompiledEntry] = {}
        for key, entry_spec in specs:
            name = str(key)
            rules = self._rules(kind, name, entry_spec.rules, (block, name))
            entries[name] = CompiledEntry(
                kind,
                name,
                rules,
                None,
                entry_spec.validate_arguments,
                results=entry_spec.results,
            )
        return entries

    # -- counters ---------------------------------------------------------------------

    def _define_counters(self) -> None:
        """Every `state` block, first pass, so rules may read counters defined later."""
        for key, tool in self.spec.tools.items():
            seen: dict[str, int] = {}
            for index, rule in enumerate(tool.rules):
                if rule.state is None:
                    continue
                loc: Loc = ("tools", key, "rules", index, "state")
                if is_pattern(key):
                    self.fail(
                        IssueCode.INVALID_RULE,
                        loc,
                        "state counters belong to an exact tool name or '*', not a pattern",
                        "use rate_limit here, or move the counter under each tool",
                    )
                    continue
                name = rule.state.counter
                if name in seen:
                    self.fail(
                        IssueCode.DUPLICATE_COUNTER,
                        (*loc, "counter"),
                        f"duplicate state counter {name!r} (also used by rules[{seen[name]}])",
                        "give each counter its own name",
                    )
                    continue
                seen[name] = index
                owner = GLOBAL_TOOL if key == WILDCARD else key
                increment_from = None
                if rule.state.increment_from is not None:
                    increment_from = self._argument_path(
                        rule.state.increment_from, (*loc, "increment_from")
                    )
                self.counters[(owner, name)] = CompiledCounter(
                    tool=owner,
                    name=name,
                    window=Window(WindowKind.CALENDAR, WINDOW_SECONDS[rule.state.window]),
                    scope=rule.state.scope,
                    increment=rule.state.increment,
                    increment_from=increment_from,
                    increment_from_text=rule.state.increment_from,
                    rule=rule.name,
                )
        blocks: tuple[tuple[str, str, Iterable[tuple[str, CategorySpec]]], ...] = (
            ("categories", "a category", self.spec.categories.items()),
            ("flags", "a flag", self.spec.flags.items()),
        )
        for block, noun, entries in blocks:
            for key, entry_spec in entries:
                for index, rule in enumerate(entry_spec.rules):
                    if rule.state is not None:
                        self.fail(
                            IssueCode.INVALID_RULE,
                            (block, str(key), "rules", index, "state"),
                            f"state counters belong to an exact tool name or '*', not {noun}",
                            "use rate_limit here, or move the counter under each tool",
                        )

    def _define_rate_aliases(self) -> None:
        """Intercept's names for rate-limit counters, readable as `state.<tool>._rate_<window>`.

        Intercept desugars `rate_limit: 5/hour` into a counter `_rate_hour` that conditions
        may read; here the alias reads the rate limit's own (sliding) count.
        """
        windows = {seconds: name for name, seconds in WINDOW_SECONDS.items()}
        for key, tool in self.spec.tools.items():
            if is_pattern(key):
                continue
            kind = EntryKind.WILDCARD if key == WILDCARD else EntryKind.TOOL
            owner = GLOBAL_TOOL if key == WILDCARD else key
            names = _rate_names(kind, key, tool.rules)
            for index, rule in enumerate(tool.rules):
                spec = rule.rate_limit
                if spec is None or spec.window not in windows:
                    continue
                alias = (owner, f"_rate_{windows[spec.window]}")
                if alias in self.counters:
                    continue  # a real counter of that name, or an earlier limit, wins
                self.counters[alias] = CompiledCounter(
                    tool=owner,
                    name=alias[1],
                    window=Window(WindowKind.SLIDING, spec.window),
                    scope=spec.scope,
                    increment=Decimal(1),
                    increment_from=None,
                    increment_from_text=None,
                    rule=rule.name,
                    key_name=names[index],
                )

    def _argument_path(self, path: str, loc: Loc) -> Resolver | None:
        try:
            root, segments = parse_path(path)
        except ConditionError as exc:
            self.fail(IssueCode.INVALID_VALUE, loc, exc.message, exc.hint)
            return None
        if root != "args" or "*" in segments:
            self.fail(
                IssueCode.INVALID_VALUE,
                loc,
                f"increment_from must name one argument value, got {path!r}",
                "e.g. increment_from: args.amount",
            )
            return None
        return compile_walk(segments)

    # -- rules ------------------------------------------------------------------------

    def _rules(
        self, kind: EntryKind, key: str, rules: Sequence[RuleSpec], loc: Loc
    ) -> tuple[CompiledRule, ...]:
        compiled: list[CompiledRule] = []
        rate_names = _rate_names(kind, key, rules)
        for index, rule in enumerate(rules):
            rule_loc: Loc = (*loc, "rules", index)
            owner = GLOBAL_TOOL if kind is EntryKind.WILDCARD else key
            own = self.counters.get((owner, rule.state.counter)) if rule.state else None
            # What stops the call: a False condition (evaluate) or a True one (approval).
            unknown = rule.action is Action.REQUIRE_APPROVAL
            conditions = tuple(
                self._condition(condition, (*rule_loc, "conditions", number), own, unknown)
                for number, condition in enumerate(rule.conditions)
            )
            usable = tuple(c for c in conditions if c is not None)
            reads = tuple(
                dict.fromkeys(
                    counter
                    for condition in rule.conditions
                    for counter in self._reads(condition)
                    if counter is not None
                )
            )
            rate = None
            if rule.rate_limit is not None:
                name = rate_names[index]
                spec = rule.rate_limit
                rate = CompiledRateLimit(
                    name=name,
                    limit=spec.max,
                    window=Window(WindowKind.SLIDING, spec.window),
                    scope=spec.scope,
                    message=rule.message
                    or f"Rate limit of {spec.max} per {_window_text(spec.window)} reached. "
                    "Try again later.",
                )
                self.rate_limits[name] = rate
            compiled.append(
                CompiledRule(
                    name=rule.name,
                    action=rule.action,
                    entry=key,
                    index=index,
                    message=rule.message,
                    conditions=usable,
                    predicate=_all([c.predicate for c in usable]) if usable else None,
                    rate_limit=rate,
                    counter=own,
                    reads=reads,
                    reads_agent=any(_reads_agent(c) for c in rule.conditions),
                    projects=any(_any_projected(c) for c in usable),
                    approval_timeout=rule.approval_timeout,
                    denial=Decision(Verdict.DENY, rule=rule.name, reason=rule.message)
                    if rule.message
                    else None,
                    watches=tuple(
                        leaf
                        for condition in rule.conditions
                        for leaf in self._state_leaves(condition, own)
                    ),
                    shadow=(rule.mode or self.spec.mode) is Mode.SHADOW,
                )
            )
        return tuple(compiled)

    def _reads(self, condition: ConditionSpec) -> Iterator[CompiledCounter | None]:
        for leaf in _leaves(condition):
            if leaf.path is not None and leaf.path.startswith("state"):
                yield self._counter_for(leaf.path)

    def _state_leaves(
        self, condition: ConditionSpec, own: CompiledCounter | None
    ) -> Iterator[StateLeaf]:
        for leaf in _leaves(condition):
            if leaf.path is None or not leaf.path.startswith("state"):
                continue
            counter = self._counter_for(leaf.path)
            if counter is None:
                continue  # reported by `_leaf`
            op = leaf.op or ""
            threshold = _threshold(leaf.value) if op in ORDER_OPS else None
            if op in ORDER_OPS and threshold is None:
                continue  # an invalid value, reported by `_leaf`
            projected = counter is own and op in _PROJECTED_OPS
            guards = None
            if threshold is not None and not (projected and counter.increment_from is not None):
                if projected:  # a fixed increment: the range is known now
                    threshold = subtract(threshold, counter.increment)
                held = bound_guard(op, threshold, holds=True)
                guards = (held, bound_guard(op, threshold, holds=False))
            yield StateLeaf(counter, op, threshold, projected, guards)

    def _counter_for(self, path: str) -> CompiledCounter | None:
        try:
            root, segments = parse_path(path)
        except ConditionError:
            return None
        if root != "state":
            return None
        return self.counters.get((str(segments[0]), str(segments[1])))

    def _condition(
        self, condition: ConditionSpec, loc: Loc, own: CompiledCounter | None, unknown: bool
    ) -> CompiledCondition | None:
        """Compile a condition whose unjudgeable leaves answer `unknown` (flipped by `not`)."""
        groups: list[tuple[str, list[ConditionSpec]]] = []
        if condition.any_ is not None:
            groups.append(("any", condition.any_))
        if condition.all_ is not None:
            groups.append(("all", condition.all_))
        if condition.not_ is not None:
            inner = self._condition(condition.not_, (*loc, "not"), own, not unknown)
            if inner is None:
                return None
            child = inner.predicate
            return CompiledCondition(
                condition, lambda subject: not child(subject), (inner,), unknown=unknown
            )
        if groups:
            word, items = groups[0]
            if not items:
                self.fail(IssueCode.INVALID_CONDITION, (*loc, word), f"{word} needs a condition")
                return None
            children = [
                self._condition(item, (*loc, word, n), own, unknown) for n, item in enumerate(items)
            ]
            kept = tuple(c for c in children if c is not None)
            if len(kept) != len(children):
                return None
            preds = [c.predicate for c in kept]
            combined = _all(preds) if word == "all" else _any(preds)
            return CompiledCondition(condition, combined, kept, unknown=unknown)
        return self._leaf(condition, loc, own, unknown)

    def _leaf(
        self, condition: ConditionSpec, loc: Loc, own: CompiledCounter | None, unknown: bool
    ) -> CompiledCondition | None:
        path, op = condition.path or "", condition.op or ""
        memo_key = (path, op, _frozen(condition.value), unknown)
        predicate = self.predicates.get(memo_key)
        if predicate is None:
            try:
                predicate = compile_condition(path, op, condition.value, unknown=unknown)
            except ConditionError as exc:
                self.fail(IssueCode.INVALID_CONDITION, loc, exc.message, exc.hint)
                return None
            self.predicates[memo_key] = predicate
        if path.startswith("state"):
            counter = self._counter_for(path)
            if counter is None:
                known = [f"state.{tool}.{name}" for tool, name in self.counters]
                self.fail(
                    IssueCode.UNKNOWN_COUNTER,
                    (*loc, "path"),
                    f"condition references {path} but no matching state block found",
                    suggest(path, known)
                    or "define it with `state: {counter: ..., window: ...}` on a rule of "
                    "that tool ('_global' means the '*' entry)",
                )
                return None
            if counter is own and op in _PROJECTED_OPS:
                return CompiledCondition(
                    condition, _projected(predicate), projected=True, unknown=unknown
                )
        return CompiledCondition(condition, predicate, unknown=unknown)


def _rate_names(kind: EntryKind, key: str, rules: Sequence[RuleSpec]) -> dict[int, str]:
    """`rate:<entry>/<rule>` for each rate-limited rule, unique within the entry."""
    entry_name = f"{kind.value}:{key}" if kind in (EntryKind.CATEGORY, EntryKind.FLAG) else key
    names: dict[int, str] = {}
    for index, rule in enumerate(rules):
        if rule.rate_limit is None:
            continue
        name = f"rate:{entry_name}/{rule.name}"
        names[index] = f"{name}#{index}" if name in names.values() else name
    return names


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for a YAML value that tells apart 1, 1.0, True and "1"."""
    if isinstance(value, list):
        return ("list", tuple(_frozen(item) for item in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(k), _frozen(v)) for k, v in value.items())))
    return (type(value).__name__, value)


def _threshold(value: Any) -> Decimal | None:
    """The exact number an ordering condition compares with (as `conditions` reads it)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _projected(predicate: Predicate) -> Predicate:
    def after_charge(subject: Mapping[str, Any]) -> bool:
        return predicate(subject[PROJECTED])

    return after_charge


def _all(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates

        def both(subject: Mapping[str, Any]) -> bool:
            return first(subject) and second(subject)

        return both
    items = tuple(predicates)

    def every(subject: Mapping[str, Any]) -> bool:
        # A loop, not all(<generator>): this runs on every call.
        for predicate in items:  # noqa: SIM110
            if not predicate(subject):
                return False
        return True

    return every


def _any(predicates: Sequence[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    items = tuple(predicates)

    def some(subject: Mapping[str, Any]) -> bool:
        for predicate in items:  # noqa: SIM110
            if predicate(subject):
                return True
        return False

    return some


def _leaves(condition: ConditionSpec) -> Iterator[ConditionSpec]:
    for group in (condition.any_, condition.all_):
        if group is not None:
            for item in group:
                yield from _leaves(item)
    if condition.not_ is not None:
        yield from _leaves(condition.not_)
    if condition.path is not None:
        yield condition


def _reads_agent(condition: ConditionSpec) -> bool:
    return any(
        leaf.path is not None and leaf.path.startswith("agent") for leaf in _leaves(condition)
    )


def _any_projected(condition: CompiledCondition) -> bool:
    return condition.projected or any(_any_projected(c) for c in condition.children)


def _window_text(seconds: int) -> str:
    names = {value: name for name, value in WINDOW_SECONDS.items()}
    return names.get(seconds, f"{seconds} seconds")
