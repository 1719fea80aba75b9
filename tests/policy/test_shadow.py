"""Shadow mode in the pure engine: a shadow rule records what it would decide, never decides.

Precedence: an enforced rule's denial wins wherever it stands; the first shadow denial is
the one recorded, and a shadow denial wins over a shadow approval, as when enforced.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from callgate.errors import PolicyError
from callgate.policy.compiler import load_compiled_policy
from callgate.policy.decision import Facts, Shadow, ShadowVerdict, ToolCall, Verdict
from callgate.policy.engine import counter_keys
from callgate.policy.explain import explain
from callgate.policy.lint import lint_policy
from callgate.policy.schema import export_json_schema
from callgate.policy.testing import run_test_file
from tests.policy.support import SERVER, compile_text, decide

WOULD_DENY = ShadowVerdict.WOULD_DENY
WOULD_ASK = ShadowVerdict.WOULD_REQUIRE_APPROVAL


def _policy(rules: str, *, mode: str = "", default: str = "allow") -> str:
    """A policy whose tool `t` has `rules` (YAML flow items, one per line)."""
    items = "\n".join(f"      - {rule}" for rule in rules.strip().splitlines())
    top = f"mode: {mode}\n" if mode else ""
    return f'version: "1"\n{top}default: {default}\ntools:\n  t:\n    rules:\n{items}\n'


def test_a_shadow_deny_lets_the_call_through_and_says_what_it_would_have_done() -> None:
    decision = decide(
        _policy('{name: never, action: deny, mode: shadow, on_deny: "not t"}'), "t", {}
    )
    assert decision.verdict is Verdict.ALLOW
    assert decision.shadow == Shadow(WOULD_DENY, "never", "not t")
    assert decision.shadowed == decision.shadow


def test_a_failed_shadow_condition_is_a_would_deny_with_the_failure_in_words() -> None:
    policy = _policy("{name: small, mode: shadow, conditions: [{path: args.n, op: lte, value: 5}]}")
    assert decide(policy, "t", {"n": 3}).shadow is None
    decision = decide(policy, "t", {"n": 9})
    assert decision.verdict is Verdict.ALLOW
    assert decision.shadow == Shadow(
        WOULD_DENY, "small", "rule 'small' denied 't': args.n lte 5 failed"
    )


def test_an_earlier_shadow_rule_does_not_hide_a_later_enforced_denial() -> None:
    policy = _policy(
        """
        {name: shadowed, action: deny, mode: shadow}
        {name: small, conditions: [{path: args.n, op: lte, value: 5}]}
        """
    )
    denied = decide(policy, "t", {"n": 9})
    assert (denied.verdict, denied.rule, denied.shadow) == (Verdict.DENY, "small", None)
    passed = decide(policy, "t", {"n": 1})
    assert passed.verdict is Verdict.ALLOW
    assert passed.shadow == Shadow(
        WOULD_DENY, "shadowed", "calls to 't' are denied by rule 'shadowed'"
    )


def test_an_enforced_denial_in_a_later_entry_wins_over_a_shadow_one_in_the_tool_entry() -> None:
    policy = compile_text(
        """
        version: "1"
        tools:
          t:
            rules:
              - {name: shadowed, action: deny, mode: shadow}
        categories:
          destructive:
            rules:
              - {name: no-destruction, action: deny}
        """
    )
    decision = decide(policy, "t", category="destructive")
    assert (decision.verdict, decision.rule, decision.shadow) == (
        Verdict.DENY,
        "no-destruction",
        None,
    )
    assert decide(policy, "t", category="read").shadow == Shadow(
        WOULD_DENY, "shadowed", "calls to 't' are denied by rule 'shadowed'"
    )


def test_the_first_shadow_denial_is_recorded() -> None:
    policy = _policy(
        """
        {name: first, action: deny, mode: shadow}
        {name: second, mode: shadow, conditions: [{path: args.n, op: lte, value: 5}]}
        """
    )
    shadow = decide(policy, "t", {"n": 9}).shadow
    assert shadow is not None
    assert (shadow.verdict, shadow.rule) == (WOULD_DENY, "first")


def test_a_shadow_denial_wins_over_a_shadow_approval_before_it() -> None:
    policy = _policy(
        """
        {name: ask, action: require_approval, mode: shadow}
        {name: never, action: deny, mode: shadow}
        """
    )
    shadow = decide(policy, "t").shadow
    assert shadow is not None
    assert (shadow.verdict, shadow.rule) == (WOULD_DENY, "never")


def test_a_shadow_approval_asks_nobody_and_is_recorded() -> None:
    policy = _policy(
        '{name: big, action: require_approval, mode: shadow, on_deny: "a person must look",'
        " conditions: [{path: args.n, op: gt, value: 100}]}"
    )
    assert decide(policy, "t", {"n": 5}).shadow is None
    decision = decide(policy, "t", {"n": 500})
    assert decision.verdict is Verdict.ALLOW
    assert decision.shadow == Shadow(WOULD_ASK, "big", "a person must look")


def test_an_enforced_approval_is_asked_and_a_shadow_one_beside_it_is_not_recorded() -> None:
    policy = _policy(
        """
        {name: shadow-ask, action: require_approval, mode: shadow}
        {name: ask, action: require_approval}
        """
    )
    decision = decide(policy, "t")
    assert (decision.verdict, decision.rule, decision.shadow) == (
        Verdict.APPROVAL_REQUIRED,
        "ask",
        None,
    )


def test_an_enforced_approval_carries_a_shadow_denial_and_the_log_shows_it_once_allowed() -> None:
    policy = _policy(
        """
        {name: ask, action: require_approval}
        {name: never, action: deny, mode: shadow}
        """
    )
    decision = decide(policy, "t")
    assert decision.verdict is Verdict.APPROVAL_REQUIRED
    assert decision.shadow is not None and decision.shadow.rule == "never"
    # Not allowed yet: the log shows the approval; once a person approves, the shadow.
    assert decision.shadowed is None


def test_a_shadow_rate_limit_is_a_shadow_charge_not_a_charge() -> None:
    policy = compile_text(_policy("{name: pace, rate_limit: 2/minute, mode: shadow}"))
    decision = decide(policy, "t")
    assert decision.verdict is Verdict.ALLOW
    assert decision.charges == ()
    assert [(c.rule, c.limit) for c in decision.shadow_charges] == [("pace", 2)]
    assert decision.shadow is None
    enforced = decide(_policy("{name: pace, rate_limit: 2/minute}"), "t")
    assert [c.rule for c in enforced.charges] == ["pace"]
    assert enforced.shadow_charges == ()


SPEND = """\
version: "1"
tools:
  pay:
    rules:
      - name: daily cap
        mode: shadow
        conditions:
          - {path: state.pay.spent, op: lte, value: 100}
        state: {counter: spent, window: day, increment_from: args.amount}
"""


def test_a_shadow_spend_cap_charges_what_it_admits_and_nothing_it_would_deny() -> None:
    admitted = decide(SPEND, "pay", {"amount": 30}, counters={"pay.spent": 50})
    assert admitted.shadow is None
    assert [c.amount for c in admitted.charges] == [Decimal(30)]
    over = decide(SPEND, "pay", {"amount": 80}, counters={"pay.spent": 50})
    assert over.verdict is Verdict.ALLOW
    assert over.shadow is not None
    assert (over.shadow.verdict, over.shadow.rule) == (WOULD_DENY, "daily cap")
    assert over.charges == ()
    assert over.guards  # the shadow verdict rests on the counter, so the store checks it
    missing = decide(SPEND, "pay", {}, counters={"pay.spent": 50})
    assert missing.shadow is not None
    assert "which this call does not have" in missing.shadow.reason


def test_policy_mode_shadow_shadows_every_rule_and_default_deny() -> None:
    policy = compile_text(
        """
        version: "1"
        mode: shadow
        default: deny
        tools:
          t:
            rules:
              - {name: never, action: deny}
        categories:
          destructive:
            rules:
              - {name: careful, action: require_approval}
        """
    )
    unlisted = decide(policy, "other", category="destructive")
    assert unlisted.verdict is Verdict.ALLOW
    assert unlisted.shadow == Shadow(
        WOULD_DENY, "default", "tool 'other' is not permitted by policy (default: deny)"
    )
    listed = decide(policy, "t")
    assert (listed.verdict, listed.shadow and listed.shadow.rule) == (Verdict.ALLOW, "never")
    asked = decide(policy, "x", category="destructive")
    assert asked.shadow is not None and asked.shadow.rule == "default"


def test_a_rule_that_says_enforce_is_enforced_under_a_shadow_policy() -> None:
    policy = _policy(
        """
        {name: watched, action: deny}
        {name: hard, mode: enforce, conditions: [{path: args.n, op: lte, value: 5}]}
        """,
        mode="shadow",
    )
    assert decide(policy, "t", {"n": 9}).verdict is Verdict.DENY
    passed = decide(policy, "t", {"n": 1})
    assert passed.verdict is Verdict.ALLOW
    assert passed.shadow is not None and passed.shadow.rule == "watched"


def test_hide_is_enforced_under_a_shadow_policy() -> None:
    policy = 'version: "1"\nmode: shadow\nhide: [secret]\n'
    assert decide(policy, "secret").verdict is Verdict.HIDDEN


def test_shadow_rules_in_flag_and_wildcard_entries() -> None:
    policy = compile_text(
        """
        version: "1"
        flags:
          credentials:
            rules:
              - {name: creds, action: require_approval, mode: shadow}
        tools:
          "*":
            rules:
              - {name: fleet, rate_limit: 10/minute, mode: shadow}
        """
    )
    decision = decide(policy, "rotate", flags=("credentials",))
    assert decision.verdict is Verdict.ALLOW
    assert decision.shadow is not None
    assert (decision.shadow.verdict, decision.shadow.rule) == (WOULD_ASK, "creds")
    assert [c.rule for c in decision.shadow_charges] == ["fleet"]


def test_a_policy_without_shadow_rules_returns_the_shared_allow() -> None:
    policy = compile_text(_policy("{name: small, conditions: [{path: args.n, op: lte, value: 5}]}"))
    decision = decide(policy, "t", {"n": 1})
    assert decision is policy.plan("t", None).allow
    assert (decision.shadow, decision.shadow_charges) == (None, ())


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('version: "1"\nmode: shdow\n', ":2:1: mode: must be enforce or shadow, got 'shdow'"),
        (
            'version: "1"\ntools:\n  t:\n    rules:\n      - {name: x, action: deny, mode: loud}\n',
            ":5:33: tools.t.rules[0].mode: must be enforce or shadow, got 'loud'",
        ),
    ],
)
def test_an_unknown_mode_is_a_positioned_error(text: str, where: str, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_compiled_policy(path)
    assert any(where in issue.render() for issue in caught.value.issues), caught.value.issues


def test_the_json_schema_knows_both_modes() -> None:
    schema = export_json_schema()
    good = {
        "version": "1",
        "mode": "shadow",
        "tools": {"t": {"rules": [{"name": "x", "action": "deny", "mode": "enforce"}]}},
    }
    jsonschema.validate(good, schema)
    for bad in (
        {"version": "1", "mode": "dry-run"},
        {**good, "tools": {"t": {"rules": [{"name": "x", "action": "deny", "mode": "off"}]}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_explain_says_which_rules_are_in_shadow_and_what_they_would_do() -> None:
    policy = compile_text(
        _policy(
            """
            {name: never, action: deny, mode: shadow}
            {name: small, conditions: [{path: args.n, op: lte, value: 5}]}
            {name: pace, rate_limit: 2/minute, mode: shadow}
            """
        )
    )
    facts = Facts(now=1_700_000_000.0)
    steps = [step.text for step in explain(policy, ToolCall(SERVER, "t", {"n": 1}), facts).steps]
    never = "rule 'never' (tools.t, deny, shadow): would deny every call"
    assert f"{never} (shadow mode: recorded, the call goes on)" in steps
    assert any(s.startswith("rule 'small' (tools.t, evaluate): every condition") for s in steps)
    pace = "rule 'pace' (tools.t, evaluate, shadow): rate limit 2 per 60 s"
    assert any(s.startswith(pace) and "recorded as would_rate_limit" in s for s in steps)
    assert steps[-1].startswith("shadow: WOULD DENY by rule 'never'")
    # An enforced denial after it still stops the call, and explain says so.
    denied = explain(policy, ToolCall(SERVER, "t", {"n": 9}), facts)
    assert denied.decision.verdict is Verdict.DENY
    assert "rule 'pace' (tools.t): not evaluated" in [s.text for s in denied.steps]


def test_policy_test_cases_assert_shadow_outcomes(tmp_path: Path) -> None:
    cases = {
        "policy": {
            "version": "1",
            "tools": {
                "t": {
                    "rules": [
                        {"name": "pace", "rate_limit": "2/minute", "mode": "shadow"},
                        {
                            "name": "small",
                            "mode": "shadow",
                            "conditions": [{"path": "args.n", "op": "lte", "value": 5}],
                        },
                        {
                            "name": "ask",
                            "action": "require_approval",
                            "mode": "shadow",
                            "conditions": [{"path": "args.n", "op": "gt", "value": 3}],
                        },
                    ]
                }
            },
        },
        "cases": [
            {"tool": "t", "args": {"n": 1}, "expect": "allow"},
            {"tool": "t", "args": {"n": 9}, "expect": "would_deny", "rule": "small"},
            {"tool": "t", "args": {"n": 4}, "expect": "would_require_approval", "rule": "ask"},
            {
                "tool": "t",
                "args": {"n": 4},
                "counters": {"pace": 2},
                "expect": "would_rate_limit",
                "rule": "pace",
                "reason": "Rate limit of 2 per minute",
            },
            {"tool": "t", "args": {"n": 9}, "counters": {"pace": 2}, "expect": "would_deny"},
            {"name": "fails on purpose", "tool": "t", "args": {"n": 9}, "expect": "allow"},
        ],
    }
    path = tmp_path / "shadow.test.yaml"
    path.write_text(json.dumps(cases))
    result = run_test_file(path)
    assert [case.passed for case in result.cases] == [True] * 5 + [False]
    assert result.cases[-1].problems[0] == "expected allow, got would_deny"


def test_strict_validation_does_not_call_rules_after_a_shadow_deny_unreachable() -> None:
    shadowed = compile_text(
        _policy(
            """
            {name: watched, action: deny, mode: shadow}
            {name: small, conditions: [{path: args.n, op: lte, value: 5}]}
            """
        )
    )
    assert lint_policy(shadowed) == []
    enforced = compile_text(
        _policy(
            """
            {name: watched, action: deny}
            {name: small, conditions: [{path: args.n, op: lte, value: 5}]}
            """
        )
    )
    assert [issue.code for issue in lint_policy(enforced)] == ["unreachable-rule"]


def test_an_unlisted_tool_under_a_shadow_default_deny_reads_the_counters_its_rules_need() -> None:
    text = """
        version: "1"
        {mode}
        default: deny
        tools:
          "*":
            rules:
              - name: fleet cap
                conditions: [{path: state._global.calls, op: lte, value: 100}]
                state: {counter: calls, window: day}
        """
    call, facts = ToolCall(SERVER, "other", {}), Facts(now=1_700_000_000.0)
    shadowed = compile_text(text.replace("{mode}", "mode: shadow"))
    assert list(counter_keys(shadowed, call, facts)) == ["_global.calls"]
    decision = decide(shadowed, "other", counters={"_global.calls": 50})
    assert decision.shadow is not None and decision.shadow.rule == "default"
    assert [charge.rule for charge in decision.charges] == ["fleet cap"]
    enforced = compile_text(text.replace("{mode}", ""))
    assert counter_keys(enforced, call, facts) == {}
