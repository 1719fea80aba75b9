"""The decision engine: Intercept's semantics one by one, then callgate's extensions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.policy.decision import Agent, Facts, ToolCall, Verdict
from callgate.policy.engine import counter_keys, evaluate
from callgate.state.counters import CounterKey, Guard, Scope, Window, WindowKind
from tests.policy.support import SERVER, compile_text, decide

STRIPE = compile_text(
    """
    version: "1"
    description: "Stripe MCP server policies"
    tools:
      create_charge:
        rules:
          - name: "max single charge"
            conditions:
              - path: "args.amount"
                op: "lte"
                value: 50000
            on_deny: "Single charge cannot exceed $500.00"
          - name: "daily spend cap"
            conditions:
              - path: "state.create_charge.daily_spend"
                op: "lte"
                value: 1000000
            on_deny: "Daily spending cap of $10,000.00 reached"
            state:
              counter: "daily_spend"
              window: "day"
              increment_from: "args.amount"
          - name: "allowed currencies"
            conditions:
              - path: "args.currency"
                op: "in"
                value: ["usd", "eur"]
            on_deny: "Only USD and EUR charges are permitted"
      delete_customer:
        rules:
          - name: "block destructive action"
            action: "deny"
            on_deny: "Customer deletion is not permitted via AI agents"
      "*":
        rules:
          - name: "global rate limit"
            conditions:
              - path: "state._global.calls_per_minute"
                op: "lte"
                value: 60
            on_deny: "Rate limit: maximum 60 tool calls per minute"
            state:
              counter: "calls_per_minute"
              window: "minute"
    """
)

SPEND = CounterKey(
    SERVER, Scope.GLOBAL, "*", "create_charge.daily_spend", Window(WindowKind.CALENDAR, 86400)
)
CALLS = CounterKey(
    SERVER, Scope.GLOBAL, "*", "_global.calls_per_minute", Window(WindowKind.CALENDAR, 60)
)


# -- Intercept semantics ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args", "counters", "verdict", "rule", "reason"),
    [
        ("create_charge", {"amount": 100, "currency": "usd"}, {}, Verdict.ALLOW, None, ""),
        (
            "create_charge",
            {"amount": 50001, "currency": "usd"},
            {},
            Verdict.DENY,
            "max single charge",
            "Single charge cannot exceed $500.00",
        ),
        (
            "create_charge",
            {"amount": 100, "currency": "gbp"},
            {},
            Verdict.DENY,
            "allowed currencies",
            "Only USD and EUR charges are permitted",
        ),
        (
            "create_charge",
            {"amount": 100, "currency": "usd"},
            {"create_charge.daily_spend": 999_950},
            Verdict.DENY,
            "daily spend cap",
            "Daily spending cap of $10,000.00 reached",
        ),
        (
            "create_charge",
            {"amount": 50, "currency": "usd"},
            {"create_charge.daily_spend": 999_950},
            Verdict.ALLOW,
            None,
            "",
        ),
        (
            "delete_customer",
            {},
            {},
            Verdict.DENY,
            "block destructive action",
            "Customer deletion is not permitted via AI agents",
        ),
        (
            "list_customers",
            {},
            {"_global.calls_per_minute": 60},
            Verdict.DENY,
            "global rate limit",
            "Rate limit: maximum 60 tool calls per minute",
        ),
        ("list_customers", {}, {"_global.calls_per_minute": 59}, Verdict.ALLOW, None, ""),
    ],
)
def test_stripe_policy_decides_like_intercept(
    tool: str,
    args: dict[str, Any],
    counters: dict[str, int],
    verdict: Verdict,
    rule: str | None,
    reason: str,
) -> None:
    decision = decide(STRIPE, tool, args, counters=counters)
    assert (decision.verdict, decision.rule, decision.reason) == (verdict, rule, reason)


def test_first_failing_rule_decides_in_file_order() -> None:
    # Both the amount and the currency are wrong: the first rule in the file speaks.
    decision = decide(STRIPE, "create_charge", {"amount": 99_999, "currency": "gbp"})
    assert decision.rule == "max single charge"


def test_tool_rules_run_before_wildcard_rules() -> None:
    decision = decide(
        STRIPE,
        "create_charge",
        {"amount": 99_999, "currency": "usd"},
        counters={"_global.calls_per_minute": 1000},
    )
    assert decision.rule == "max single charge"


def test_allowed_call_returns_every_charge_and_the_guards_it_relied_on() -> None:
    decision = decide(
        STRIPE,
        "create_charge",
        {"amount": 1250, "currency": "eur"},
        counters={"create_charge.daily_spend": 10, "_global.calls_per_minute": 3},
    )
    assert decision.verdict is Verdict.ALLOW
    assert [(c.key, c.amount, c.rule, c.limit) for c in decision.charges] == [
        (SPEND, Decimal(1250), "daily spend cap", None),
        (CALLS, Decimal(1), "global rate limit", None),
    ]
    # Both caps are projected (`lte` on the rule's own counter): the value before this call
    # may grow to the cap minus this call's charge and the decision stands.
    assert decision.guards == {
        SPEND: Guard().below(Decimal(1_000_000 - 1250), inclusive=True),
        CALLS: Guard().below(Decimal(59), inclusive=True),
    }


def test_denied_call_returns_no_charges() -> None:
    decision = decide(STRIPE, "create_charge", {"amount": 100, "currency": "gbp"})
    assert decision.verdict is Verdict.DENY
    assert decision.charges == ()


def test_counter_keys_name_only_counters_the_applicable_rules_read() -> None:
    facts = Facts(now=0.0)
    charge_keys = counter_keys(STRIPE, ToolCall(SERVER, "create_charge", {}), facts)
    other_keys = counter_keys(STRIPE, ToolCall(SERVER, "list_customers", {}), facts)
    assert charge_keys == {"create_charge.daily_spend": SPEND, "_global.calls_per_minute": CALLS}
    assert other_keys == {"_global.calls_per_minute": CALLS}


@pytest.mark.parametrize(
    ("amount", "allowed"),
    [(0, True), (49_999, True), (50_000, True), (50_001, False)],
)
def test_lte_boundary_is_inclusive(amount: int, allowed: bool) -> None:
    decision = decide(STRIPE, "create_charge", {"amount": amount, "currency": "usd"})
    assert decision.allowed is allowed


def test_missing_argument_fails_the_condition() -> None:
    decision = decide(STRIPE, "create_charge", {"currency": "usd"})
    assert (decision.verdict, decision.rule) == (Verdict.DENY, "max single charge")


HIDE_AND_DEFAULT = """
    version: "1"
    default: deny
    hide: [delete_repository, "secret_*"]
    tools:
      read_file:
        rules: []
      create_issue:
        rules:
          - name: "no drafts"
            conditions: [{path: args.draft, op: neq, value: true}]
      delete_repository:
        rules: []
      "*":
        rules:
          - name: "everything is logged"
            conditions: [{path: args.reason, op: exists, value: false}]
"""


@pytest.mark.parametrize(
    ("tool", "args", "verdict", "rule"),
    [
        ("read_file", {}, Verdict.ALLOW, None),
        ("create_issue", {"draft": False}, Verdict.ALLOW, None),
        ("create_issue", {"draft": True}, Verdict.DENY, "no drafts"),
        ("delete_repository", {}, Verdict.HIDDEN, "hide"),
        ("secret_tokens", {}, Verdict.HIDDEN, "hide"),
        ("unlisted_tool", {}, Verdict.DENY, "default"),
        ("read_file", {"reason": "x"}, Verdict.DENY, "everything is logged"),
    ],
)
def test_hide_and_default_deny(
    tool: str, args: dict[str, Any], verdict: Verdict, rule: str | None
) -> None:
    decision = decide(HIDE_AND_DEFAULT, tool, args)
    assert (decision.verdict, decision.rule) == (verdict, rule)


def test_wildcard_rules_do_not_rescue_an_unlisted_tool_under_default_deny() -> None:
    policy = """
        version: "1"
        default: deny
        tools:
          "*":
            rules:
              - name: "needs id"
                conditions: [{path: args.id, op: exists, value: true}]
    """
    assert decide(policy, "anything", {"id": 1}).rule == "default"


def test_hide_star_hides_every_tool() -> None:
    policy = compile_text('version: "1"\nhide: ["*"]\n')
    assert policy.is_hidden("anything")
    assert decide(policy, "anything").verdict is Verdict.HIDDEN


def test_default_allow_lets_unlisted_tools_through() -> None:
    assert decide('version: "1"\n', "whatever").verdict is Verdict.ALLOW


def test_rate_limit_shorthand_becomes_a_session_scoped_sliding_limit() -> None:
    policy = """
        version: "1"
        tools:
          create_issue:
            rules:
              - name: "hourly issue limit"
                rate_limit: 5/hour
    """
    decision = decide(policy, "create_issue", session="abc")
    (charge,) = decision.charges
    assert charge.key == CounterKey(
        SERVER,
        Scope.SESSION,
        "abc",
        "rate:create_issue/hourly issue limit",
        Window(WindowKind.SLIDING, 3600),
    )
    assert (charge.amount, charge.limit, charge.rule) == (Decimal(1), 5, "hourly issue limit")


@pytest.mark.parametrize(
    ("scope", "scope_key"),
    [("session", "sess-1"), ("agent", "bot"), ("global", "*")],
)
def test_rate_limit_long_form_scopes(scope: str, scope_key: str) -> None:
    policy = f"""
        version: "1"
        tools:
          "*":
            rules:
              - name: fleet
                rate_limit: {{max: 10, window: 30, scope: {scope}}}
    """
    decision = decide(policy, "x", agent=Agent("bot"), session="sess-1")
    (charge,) = decision.charges
    assert charge.key.scope == Scope(scope)
    assert charge.key.scope_key == scope_key
    assert charge.key.window == Window(WindowKind.SLIDING, 30)
    assert charge.limit == 10


def test_rate_limit_reason_is_the_rules_text_or_intercepts_wording() -> None:
    policy = compile_text(
        """
        version: "1"
        tools:
          t:
            rules:
              - {name: quiet, rate_limit: 5/hour}
              - {name: loud, rate_limit: 9/day, on_deny: "Slow down."}
        """
    )
    quiet, loud = decide(policy, "t").charges
    assert policy.rate_limit_reason(quiet) == "Rate limit of 5 per hour reached. Try again later."
    assert policy.rate_limit_reason(loud) == "Slow down."


def test_two_rate_limits_with_the_same_rule_name_get_distinct_counters() -> None:
    policy = """
        version: "1"
        tools:
          t:
            rules:
              - {name: limit, rate_limit: 5/minute}
              - {name: limit, rate_limit: 100/day}
    """
    names = [c.key.name for c in decide(policy, "t").charges]
    assert len(set(names)) == 2


# -- counters ---------------------------------------------------------------------------

COUNTED = """
    version: "1"
    tools:
      refund:
        rules:
          - name: "daily refund count"
            conditions: [{path: state.refund.daily_count, op: lt, value: 3}]
            state: {counter: daily_count, window: day}
          - name: "spend"
            conditions: [{path: state.refund.total, op: lte, value: 100}]
            state: {counter: total, window: hour, increment_from: args.amount, scope: agent}
"""


@pytest.mark.parametrize(("count", "allowed"), [(0, True), (1, True), (2, False), (3, False)])
def test_own_counter_lt_limit_counts_this_call(count: int, allowed: bool) -> None:
    # Intercept reserves against `lt 3` as "at most 2 after this call": so 2 calls a day.
    decision = decide(COUNTED, "refund", {"amount": 1}, counters={"refund.daily_count": count})
    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("amount", "verdict", "reason_part"),
    [
        (-1, Verdict.DENY, "must not be negative"),
        ("ten", Verdict.DENY, "must be a number"),
        (float("nan"), Verdict.DENY, "must be finite"),
        (float("inf"), Verdict.DENY, "must be finite"),
        (True, Verdict.DENY, "must be a number"),
        (None, Verdict.DENY, "must be a number"),
        ([1], Verdict.DENY, "must be a number"),
    ],
)
def test_increment_from_refuses_bad_amounts(
    amount: object, verdict: Verdict, reason_part: str
) -> None:
    decision = decide(COUNTED, "refund", {"amount": amount})
    assert (decision.verdict, decision.rule) == (verdict, "spend")
    assert reason_part in decision.reason
    assert decision.charges == ()


def test_increment_from_missing_argument_denies_with_a_clear_reason() -> None:
    decision = decide(COUNTED, "refund", {})
    assert decision.rule == "spend"
    assert "args.amount" in decision.reason and "does not have" in decision.reason


@given(st.decimals(min_value=0, max_value=10**12, allow_nan=False, allow_infinity=False, places=6))
def test_increment_from_charges_the_exact_decimal_amount(amount: Decimal) -> None:
    decision = decide(COUNTED, "refund", {"amount": str(amount)}, counters={})
    if amount <= 100:
        spend = next(c for c in decision.charges if c.rule == "spend")
        assert spend.amount == amount
    else:
        assert decision.rule == "spend"


@given(st.floats(min_value=0, max_value=100, allow_nan=False))
def test_increment_from_keeps_a_float_as_its_shortest_decimal(amount: float) -> None:
    decision = decide(COUNTED, "refund", {"amount": amount})
    spend = next(c for c in decision.charges if c.rule == "spend")
    assert spend.amount == Decimal(repr(amount))


def test_counter_scope_agent_keys_by_agent_name() -> None:
    decision = decide(COUNTED, "refund", {"amount": 5}, agent=Agent("alice"))
    spend = next(c for c in decision.charges if c.rule == "spend")
    assert (spend.key.scope, spend.key.scope_key) == (Scope.AGENT, "alice")


def test_counter_values_missing_from_facts_read_as_zero_and_are_guarded() -> None:
    decision = decide(COUNTED, "refund", {"amount": 5})
    assert decision.allowed
    assert all(guard.admits(Decimal(0)) for guard in decision.guards.values())
    assert sorted((key.name, guard.high) for key, guard in decision.guards.items()) == [
        ("refund.daily_count", Decimal(2)),  # 0 + 1 < 3
        ("refund.total", Decimal(95)),  # 0 + 5 <= 100
    ]


def test_rule_may_read_another_tools_counter() -> None:
    policy = """
        version: "1"
        tools:
          create_charge:
            rules:
              - name: spend
                conditions: [{path: args.amount, op: gt, value: 0}]
                state: {counter: spend, window: day, increment_from: args.amount}
          refund:
            rules:
              - name: "refund only after charges"
                conditions: [{path: state.create_charge.spend, op: gt, value: 0}]
    """
    assert decide(policy, "refund", counters={"create_charge.spend": 0}).rule == (
        "refund only after charges"
    )
    assert decide(policy, "refund", counters={"create_charge.spend": 10}).allowed


# -- callgate extensions ----------------------------------------------------------------

APPROVALS = """
    version: "1"
    approvals: {timeout: 5m}
    tools:
      create_charge:
        rules:
          - name: "big charges need a person"
            action: require_approval
            conditions: [{path: args.amount, op: gt, value: 50000}]
            approval_timeout: 120
          - name: "currency"
            conditions: [{path: args.currency, op: eq, value: usd}]
            reason: "USD only"
      wipe:
        rules:
          - name: "always ask"
            action: require_approval
      "*":
        rules:
          - {name: "pace", rate_limit: "100/minute"}
"""


@pytest.mark.parametrize(
    ("tool", "args", "verdict", "rule", "timeout"),
    [
        ("create_charge", {"amount": 10, "currency": "usd"}, Verdict.ALLOW, None, None),
        (
            "create_charge",
            {"amount": 60_000, "currency": "usd"},
            Verdict.APPROVAL_REQUIRED,
            "big charges need a person",
            120.0,
        ),
        ("create_charge", {"amount": 60_000, "currency": "eur"}, Verdict.DENY, "currency", None),
        ("wipe", {}, Verdict.APPROVAL_REQUIRED, "always ask", 300.0),
    ],
)
def test_require_approval(
    tool: str, args: dict[str, Any], verdict: Verdict, rule: str | None, timeout: float | None
) -> None:
    decision = decide(APPROVALS, tool, args)
    assert (decision.verdict, decision.rule, decision.approval_timeout) == (
        verdict,
        rule,
        timeout,
    )


def test_approval_decision_carries_the_charges_to_reserve_once_approved() -> None:
    decision = decide(APPROVALS, "wipe")
    assert [c.rule for c in decision.charges] == ["pace"]


def test_reason_is_an_alias_of_on_deny() -> None:
    decision = decide(APPROVALS, "create_charge", {"amount": 1, "currency": "eur"})
    assert decision.reason == "USD only"


def test_generated_reason_names_the_rule_and_the_failing_condition() -> None:
    policy = """
        version: "1"
        tools:
          t:
            rules:
              - name: small
                conditions:
                  - {path: args.n, op: gte, value: 0}
                  - {path: args.n, op: lt, value: 10}
    """
    decision = decide(policy, "t", {"n": 11})
    assert decision.reason == "rule 'small' denied 't': args.n lt 10 failed"


PATTERNS = """
    version: "1"
    default: deny
    tools:
      delete_file:
        rules: []
      "delete_*":
        rules:
          - {name: "no deletes", action: deny}
      "delete_*_prod":
        rules:
          - {name: "never in prod", action: deny}
      "*_prod":
        rules:
          - {name: "prod is read-only", action: deny}
"""


@pytest.mark.parametrize(
    ("tool", "verdict", "rule"),
    [
        ("delete_file", Verdict.ALLOW, None),
        ("delete_dir", Verdict.DENY, "no deletes"),
        ("delete_db_prod", Verdict.DENY, "never in prod"),
        ("read_prod", Verdict.DENY, "prod is read-only"),
        ("read_file", Verdict.DENY, "default"),
    ],
)
def test_tool_name_patterns_follow_precedence(tool: str, verdict: Verdict, rule: str) -> None:
    decision = decide(PATTERNS, tool)
    assert (decision.verdict, decision.rule) == (verdict, rule)


CATEGORIES = """
    version: "1"
    categories:
      destructive:
        rules:
          - {name: "ask before destroying", action: require_approval}
      execute:
        validate_arguments: true
        rules:
          - {name: "exec pace", rate_limit: {max: 10, window: minute, scope: agent}}
      read:
        rules: []
    tools:
      drop_table:
        category: destructive
        rules:
          - name: "only scratch tables"
            conditions: [{path: args.table, op: regex, value: "^scratch_"}]
      run_script:
        validate_arguments: false
      "*":
        rules:
          - {name: "fleet pace", rate_limit: 1000/day}
"""


def test_category_rules_apply_after_the_tool_entry() -> None:
    denied = decide(CATEGORIES, "drop_table", {"table": "users"})
    asked = decide(CATEGORIES, "drop_table", {"table": "scratch_1"})
    assert denied.rule == "only scratch tables"
    assert (asked.verdict, asked.rule) == (Verdict.APPROVAL_REQUIRED, "ask before destroying")


def test_category_on_the_tool_overrides_the_classifier() -> None:
    decision = decide(CATEGORIES, "drop_table", {"table": "scratch_1"}, category="read")
    assert decision.verdict is Verdict.APPROVAL_REQUIRED


def test_classifier_category_selects_category_rules() -> None:
    decision = decide(CATEGORIES, "rm_rf", category="destructive")
    assert decision.rule == "ask before destroying"
    plain = decide(CATEGORIES, "rm_rf", category=None)
    assert plain.verdict is Verdict.ALLOW


def test_wildcard_rules_run_after_category_rules() -> None:
    decision = decide(CATEGORIES, "sh", category="execute")
    assert [charge.rule for charge in decision.charges] == ["exec pace", "fleet pace"]


@pytest.mark.parametrize(
    ("tool", "category", "expected"),
    [("some_exec", "execute", True), ("run_script", "execute", False), ("ls", "read", False)],
)
def test_validate_arguments_follows_precedence(tool: str, category: str, expected: bool) -> None:
    assert decide(CATEGORIES, tool, category=category).validate_arguments is expected


def test_conditions_read_agent_name_and_roles() -> None:
    policy = """
        version: "1"
        tools:
          deploy:
            rules:
              - name: "deployers only"
                conditions:
                  - any:
                      - {path: agent.roles, op: contains, value: deployer}
                      - {path: agent.name, op: eq, value: root}
    """
    assert decide(policy, "deploy", agent=Agent("ci", frozenset({"deployer"}))).allowed
    assert decide(policy, "deploy", agent=Agent("root")).allowed
    assert decide(policy, "deploy", agent=Agent("intern")).rule == "deployers only"


def test_all_and_not_groups() -> None:
    policy = """
        version: "1"
        tools:
          push:
            rules:
              - name: "not main unless forced"
                conditions:
                  - not:
                      all:
                        - {path: args.branch, op: eq, value: main}
                        - {path: args.force, op: neq, value: true}
    """
    assert decide(policy, "push", {"branch": "dev", "force": False}).allowed
    assert decide(policy, "push", {"branch": "main", "force": True}).allowed
    assert not decide(policy, "push", {"branch": "main", "force": False}).allowed


def test_evaluate_is_pure_and_repeatable() -> None:
    call = ToolCall(SERVER, "create_charge", {"amount": 5, "currency": "usd"})
    facts = Facts(now=0.0, counters={"create_charge.daily_spend": Decimal(3)})
    assert evaluate(STRIPE, call, facts) == evaluate(STRIPE, call, facts)
    assert call.arguments == {"amount": 5, "currency": "usd"}


def test_compiled_policy_is_the_gates_judge() -> None:
    call = ToolCall(SERVER, "delete_customer", {})
    facts = Facts(now=0.0)
    assert STRIPE.evaluate(call, facts) == evaluate(STRIPE, call, facts)
    assert STRIPE.counter_keys(call, facts) == counter_keys(STRIPE, call, facts)
    assert STRIPE.fail_open is False


def test_intercept_rate_counter_names_read_the_rate_limit() -> None:
    # Intercept documents that `rate_limit: 5/hour` counts in `state.<tool>._rate_hour`.
    policy = compile_text(
        """
        version: "1"
        tools:
          create_issue:
            rules:
              - {name: hourly, rate_limit: 5/hour}
              - name: "ask after three"
                action: require_approval
                conditions: [{path: state.create_issue._rate_hour, op: gte, value: 3}]
        """
    )
    facts = Facts(now=0.0, session="s9")
    keys = counter_keys(policy, ToolCall(SERVER, "create_issue", {}), facts)
    assert keys == {
        "create_issue._rate_hour": CounterKey(
            SERVER,
            Scope.SESSION,
            "s9",
            "rate:create_issue/hourly",
            Window(WindowKind.SLIDING, 3600),
        )
    }
    (charge,) = decide(policy, "create_issue", session="s9").charges
    assert charge.key == keys["create_issue._rate_hour"]
    asked = decide(policy, "create_issue", session="s9", counters={"create_issue._rate_hour": 3})
    assert (asked.verdict, asked.rule) == (Verdict.APPROVAL_REQUIRED, "ask after three")


def test_denials_that_name_the_tool_are_built_once_per_tool() -> None:
    policy = compile_text(
        """
        version: "1"
        default: deny
        tools:
          "delete_*":
            rules:
              - {name: no deletes, action: deny}
        """
    )
    first = decide(policy, "delete_a")
    assert (first.rule, first.reason) == (
        "no deletes",
        "calls to 'delete_a' are denied by rule 'no deletes'",
    )
    assert decide(policy, "delete_a") is first
    assert (
        decide(policy, "delete_b").reason == "calls to 'delete_b' are denied by rule 'no deletes'"
    )
    unlisted = decide(policy, "read_a")
    assert (unlisted.rule, unlisted.reason) == (
        "default",
        "tool 'read_a' is not permitted by policy (default: deny)",
    )
    assert decide(policy, "read_a") is unlisted
    assert (
        decide(policy, "read_b").reason
        == "tool 'read_b' is not permitted by policy (default: deny)"
    )
