"""Any input gets a compiled policy or a PolicyError with positioned issues, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.errors import PolicyError
from callgate.policy.compiler import CompiledPolicy, load_compiled_policy
from callgate.policy.decision import Facts, ToolCall, Verdict
from callgate.policy.engine import evaluate
from callgate.policy.explain import explain

KEYS = [
    "version", "default", "hide", "tools", "categories", "rules", "name", "action",
    "conditions", "path", "op", "value", "on_deny", "reason", "rate_limit", "state",
    "counter", "window", "increment", "increment_from", "scope", "any", "all", "not",
    "approvals", "agents", "fail_mode", "category", "validate_arguments", "max", "*",
    "delete_*", "read", "destructive", "args.amount", "state.t.c", "lte", "eq", "in",
]  # fmt: skip
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([*KEYS, "1", "5/hour", "minute", "deny", "evaluate", "session"]),
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    ),
    max_leaves=25,
)


def check(data: Any) -> None:
    text = yaml.safe_dump(data)
    try:
        policy = load_compiled_policy(text + "\n")
    except PolicyError as error:
        assert error.issues
        assert all(issue.line >= 1 and issue.message for issue in error.issues)
    else:
        assert isinstance(policy, CompiledPolicy)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), trees, max_size=5))
def test_arbitrary_documents_load_or_fail_with_issues(data: dict[str, Any]) -> None:
    check(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"name": st.sampled_from(["a", "b"])},
            optional={
                "action": st.sampled_from(["evaluate", "deny", "require_approval", "x"]),
                "conditions": st.lists(
                    st.dictionaries(st.sampled_from(KEYS), trees, max_size=4), max_size=3
                ),
                "rate_limit": trees,
                "state": st.dictionaries(st.sampled_from(KEYS), trees, max_size=4),
                "on_deny": trees,
            },
        ),
        max_size=4,
    )
)
def test_arbitrary_rules_load_or_fail_with_issues(rules: list[dict[str, Any]]) -> None:
    check({"version": "1", "tools": {"t": {"rules": rules}, "*": {"rules": rules}}})


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
POLICIES = [
    load_compiled_policy(path)
    for path in sorted(EXAMPLES.rglob("*.yaml"))
    if not path.name.endswith(".test.yaml")
]
TOOLS = sorted({name for policy in POLICIES for name in policy.tools} | {"delete_x", "other"})
ARGUMENT_NAMES = ["amount", "currency", "path", "paths", "branch", "files", "title", "head"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(POLICIES),
    st.sampled_from(TOOLS),
    st.dictionaries(st.sampled_from(ARGUMENT_NAMES), json_values, max_size=4),
    st.sampled_from([None, "read", "destructive", "financial"]),
)
def test_any_arguments_get_a_decision_and_an_explanation(
    policy: CompiledPolicy, tool: str, arguments: dict[str, Any], category: str | None
) -> None:
    call = ToolCall("srv", tool, arguments)
    facts = Facts(now=0.0, category=category)
    decision = evaluate(policy, call, facts)
    assert isinstance(decision.verdict, Verdict)
    assert explain(policy, call, facts).decision == decision
