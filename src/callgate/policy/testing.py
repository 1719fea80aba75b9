"""Policy test cases: a YAML file of calls and the decisions a policy must give them.

```yaml
policy: ../policies/stripe.yaml   # a path (relative to this file), or the policy inline
server: stripe                    # optional; the upstream name in counter keys
cases:
  - name: small charges pass
    tool: create_charge
    args: {amount: 100, currency: usd}
    expect: allow
  - name: the daily cap holds
    tool: create_charge
    args: {amount: 5000, currency: usd}
    counters: {create_charge.daily_spend: 999000}   # state values before the call
    expect: deny
    rule: daily spend cap                           # optional: the rule that decides
    reason: cap                                     # optional: a part of the reason
  - name: sixth issue in an hour
    tool: create_issue
    counters: {hourly issue limit: 5}               # rate limits: calls already counted
    expect: rate_limited
```
A case may also give `agent` (a name, or `{name, roles}`), `session`, `category` and
`flags` (the classifier's category and flags, e.g. `flags: [credentials]`), `time` (epoch
seconds) and `validate_arguments` (whether the decision asks to validate arguments).
`expect` is one of allow, deny, hidden, rate_limited, approval_required, or, for a call
that goes through although a rule in shadow mode would have stopped it, would_deny,
would_rate_limit, would_require_approval (`rule` and `reason` are then the shadow rule's),
as the audit log records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callgate.classifier.classification import Flag
from callgate.errors import IssueCode, PolicyError, PolicyIssue, PolicyTestError
from callgate.policy.compiler import CompiledPolicy, compile_policy
from callgate.policy.decision import Agent, Decision, Facts, ToolCall, Verdict
from callgate.policy.engine import evaluate
from callgate.policy.loader import (
    load_policy,
    parse_yaml,
    validate_policy_data,
    validation_issues,
)
from callgate.policy.source import SourceMap
from callgate.state.counters import Charge

ExpectedVerdict = Literal[
    "allow",
    "deny",
    "hidden",
    "rate_limited",
    "approval_required",
    "would_deny",
    "would_rate_limit",
    "would_require_approval",
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentCaseSpec(_Spec):
    """The calling agent in a test case."""

    name: str
    roles: list[str] = Field(default_factory=list)


class CaseSpec(_Spec):
    """One call and the decision expected for it."""

    name: str | None = None
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    agent: str | AgentCaseSpec | None = None
    session: str = "test"
    category: str | None = None
    flags: list[Flag] = Field(default_factory=list)
    counters: dict[str, Decimal] = Field(default_factory=dict)
    time: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    expect: ExpectedVerdict
    rule: str | None = None
    reason: str | None = None
    validate_arguments: bool | None = None


class CaseFileSpec(_Spec):
    """A whole test file."""

    policy: str | dict[str, Any]
    server: str = "test"
    cases: list[CaseSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case."""

    name: str
    passed: bool
    decision: Decision
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcomes of one test file's cases."""

    file: str
    cases: tuple[CaseResult, ...]

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(1 for case in self.cases if case.passed)

    @property
    def failed(self) -> int:
        """How many cases failed."""
        return len(self.cases) - self.passed


def run_test_file(path: Path) -> FileResult:
    """Run every case of a test file; raises `PolicyError` when it or its policy is invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issue = PolicyIssue(IssueCode.UNREADABLE_FILE, str(exc), file=str(path))
        raise PolicyTestError([issue]) from exc
    data, source = parse_yaml(text, str(path))
    try:
        spec = CaseFileSpec.model_validate(data if data is not None else {})
    except ValidationError as exc:
        vocabulary = set(CaseFileSpec.model_fields) | set(CaseSpec.model_fields)
        raise PolicyTestError(validation_issues(exc, data, source, vocabulary)) from exc
    policy = _policy(spec, path, source)
    return FileResult(str(path), tuple(run_case(policy, case, spec.server) for case in spec.cases))


def run_case(policy: CompiledPolicy, case: CaseSpec, server: str = "test") -> CaseResult:
    """Judge one case's call and compare the decision with what it expects."""
    call = ToolCall(server, case.tool, case.args)
    facts = Facts(
        now=case.time,
        agent=_agent(case.agent),
        session=case.session,
        category=case.category,
        flags=tuple(case.flags),
        counters={k: v for k, v in case.counters.items()},
    )
    decision = _with_rate_limits(policy, evaluate(policy, call, facts), case.counters)
    # What the audit log would record: a shadow rule's verdict for a call it let through.
    shadow = decision.shadowed
    verdict = decision.verdict.value if shadow is None else shadow.verdict.value
    rule = decision.rule if shadow is None else shadow.rule
    reason = decision.reason if shadow is None else shadow.reason
    problems: list[str] = []
    if verdict != case.expect:
        problems.append(f"expected {case.expect}, got {verdict}")
    if case.rule is not None and rule != case.rule:
        problems.append(f"expected rule {case.rule!r}, got {rule!r}")
    if case.reason is not None and case.reason not in reason:
        problems.append(f"expected the reason to contain {case.reason!r}, got {reason!r}")
    if case.validate_arguments is not None and decision.validate_arguments != (
        case.validate_arguments
    ):
        problems.append(
            f"expected validate_arguments {case.validate_arguments}, "
            f"got {decision.validate_arguments}"
        )
    if problems and reason and verdict != case.expect:
        problems.append(f"reason: {reason}")
    name = case.name or f"{case.tool} {case.args}"
    return CaseResult(name, not problems, decision, tuple(problems))


def _with_rate_limits(
    policy: CompiledPolicy, decision: Decision, used: Mapping[str, Decimal]
) -> Decision:
    """Apply the store's rate-limit check the way the proxy would, from counts in the case:
    a full limit refuses the call, a full shadow limit records WOULD_RATE_LIMIT."""
    if decision.verdict not in (Verdict.ALLOW, Verdict.APPROVAL_REQUIRED):
        return decision
    for charge in decision.charges:
        if charge.limit is not None and _full(charge, used):
            return Decision(
                Verdict.RATE_LIMITED,
                rule=charge.rule,
                reason=policy.rate_limit_reason(charge),
                retry_after=float(charge.key.window.seconds),
            )
    full = next((c for c in decision.shadow_charges if _full(c, used)), None)
    if full is not None:
        return decision.without_full_shadow_limit(full, policy.rate_limit_reason(full))
    return decision


def _full(charge: Charge, used: Mapping[str, Decimal]) -> bool:
    """Whether a rate-limit charge exceeds its limit, given the case's counts."""
    assert charge.limit is not None
    count = used.get(charge.rule, used.get(charge.key.name, Decimal(0)))
    return count + charge.amount > charge.limit


def _agent(agent: str | AgentCaseSpec | None) -> Agent:
    if agent is None:
        return Agent("anonymous")
    if isinstance(agent, str):
        return Agent(agent)
    return Agent(agent.name, frozenset(agent.roles))


def _policy(spec: CaseFileSpec, path: Path, source: SourceMap) -> CompiledPolicy:
    if isinstance(spec.policy, str):
        policy_path = Path(spec.policy)
        if not policy_path.is_absolute():
            policy_path = path.parent / policy_path
        return compile_policy(load_policy(policy_path))
    inner = SourceMap(
        source.file,
        {loc[1:]: pos for loc, pos in source.positions.items() if loc[:1] == ("policy",)},
    )
    return compile_policy(validate_policy_data(spec.policy, inner))


__all__ = ["CaseResult", "CaseSpec", "FileResult", "PolicyError", "run_case", "run_test_file"]
