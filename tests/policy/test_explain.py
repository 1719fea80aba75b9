"""`explain` narrates the engine's order and always ends with the engine's decision."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from callgate.policy.compiler import load_compiled_policy
from callgate.policy.decision import Agent, Facts, ToolCall
from callgate.policy.engine import evaluate
from callgate.policy.explain import Outcome, explain
from callgate.policy.loader import parse_yaml
from callgate.policy.testing import CaseFileSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_calls() -> list[tuple[Path, ToolCall, Facts]]:
    """Every case of every example test file, as a call and its facts."""
    found = []
    for tests in sorted(EXAMPLES.rglob("*.test.yaml")):
        data, _ = parse_yaml(tests.read_text())
        spec = CaseFileSpec.model_validate(data)
        assert isinstance(spec.policy, str)
        for case in spec.cases:
            agent = case.agent
            facts = Facts(
                now=case.time,
                agent=Agent(agent) if isinstance(agent, str) else Agent("anonymous"),
                session=case.session,
                category=case.category,
                flags=tuple(case.flags),
                counters=dict(case.counters),
            )
            found.append((tests.parent / spec.policy, ToolCall("s", case.tool, case.args), facts))
    return found


CALLS = example_calls()


@pytest.mark.parametrize(("policy_path", "call", "facts"), CALLS)
def test_explanation_ends_with_the_engines_decision(
    policy_path: Path, call: ToolCall, facts: Facts
) -> None:
    policy = load_compiled_policy(policy_path)
    result = explain(policy, call, facts)
    assert result.decision == evaluate(policy, call, facts)
    if result.decision.rule not in (None, "hide", "default"):
        failing = [s.text for s in result.steps if s.outcome is Outcome.FAIL and s.depth == 0]
        assert any(repr(result.decision.rule) in text for text in failing)


def test_explanation_walks_entries_rules_and_condition_values() -> None:
    policy = load_compiled_policy(EXAMPLES / "stripe.yaml")
    call = ToolCall("s", "create_charge", {"amount": 2000, "currency": "usd"})
    facts = Facts(now=0.0, counters={"create_charge.daily_spend": Decimal(999_000)})
    texts = [(step.outcome, step.depth, step.text) for step in explain(policy, call, facts).steps]
    assert (Outcome.INFO, 0, "entry tools.create_charge: exact name") in texts
    assert (
        Outcome.FAIL,
        1,
        "state.create_charge.daily_spend lte 1000000 (after this call): false "
        "(state.create_charge.daily_spend = 1001000)",
    ) in texts
    assert (
        Outcome.SKIP,
        0,
        "rule 'global rate limit' (\"*\"): not evaluated",
    ) in texts


def test_hidden_tool_explains_which_hide_entry() -> None:
    policy = load_compiled_policy(EXAMPLES / "github.yaml")
    steps = explain(policy, ToolCall("s", "create_webhook", {}), Facts(now=0.0)).steps
    assert steps[0].text == "hide: 'create_webhook' is hidden (hide pattern '*_webhook*')"


def test_default_deny_explains_the_missing_entry() -> None:
    policy = load_compiled_policy(EXAMPLES / "stripe.yaml")
    steps = explain(policy, ToolCall("s", "create_payout", {}), Facts(now=0.0)).steps
    assert steps[-1].text.startswith("default: deny, and no tool entry")
