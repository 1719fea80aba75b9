"""`flags:` entries: rules for every tool the classifier (or the tool's entry) flags."""

from __future__ import annotations

import pytest

from callgate.errors import IssueCode, PolicyIssue
from callgate.policy.decision import Facts, ToolCall, Verdict
from callgate.policy.explain import Outcome, explain
from callgate.policy.lint import lint_policy
from tests.policy.support import SERVER, compile_text, decide
from tests.policy.test_loader import issues_of

POLICY = compile_text(
    """
    version: "1"
    tools:
      rotate_key:
        flags: [credentials]
      export_contacts:
        flags: []
      "sync_*":
        flags: [bulk]
      "*":
        rules:
          - {name: "fleet pace", rate_limit: 1000/day}
    categories:
      financial:
        rules:
          - {name: "money moves need approval", action: require_approval}
    flags:
      credentials:
        rules:
          - {name: "credentials need approval", action: require_approval}
      money:
        validate_arguments: true
        rules:
          - name: "small amounts"
            conditions: [{path: args.amount, op: lte, value: 100}]
      personal_data:
        rules:
          - {name: "no personal data", action: deny, on_deny: "agents do not export people"}
      bulk:
        rules:
          - {name: "bulk pace", rate_limit: 5/hour}
    """
)


def test_a_flag_entry_applies_to_every_tool_with_that_flag() -> None:
    flagged = decide(POLICY, "read_vault", flags=("credentials",))
    plain = decide(POLICY, "read_vault")
    assert (flagged.verdict, flagged.rule) == (
        Verdict.APPROVAL_REQUIRED,
        "credentials need approval",
    )
    assert plain.verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("tool", "flags", "verdict"),
    [
        ("rotate_key", (), Verdict.APPROVAL_REQUIRED),  # pinned: credentials
        ("export_contacts", ("personal_data",), Verdict.ALLOW),  # pinned: none
        ("sync_all", ("personal_data",), Verdict.ALLOW),  # a pattern pins bulk only
        ("export_people", ("personal_data",), Verdict.DENY),  # the classifier's flags
    ],
)
def test_flags_on_the_tool_entry_override_the_classifiers(
    tool: str, flags: tuple[str, ...], verdict: Verdict
) -> None:
    assert decide(POLICY, tool, flags=flags).verdict is verdict


def test_the_entries_of_every_flag_apply_after_the_category_and_before_the_wildcard() -> None:
    decision = decide(
        POLICY, "sync_all", {"amount": 5}, category="financial", flags=("money", "credentials")
    )
    assert (decision.verdict, decision.rule) == (
        Verdict.APPROVAL_REQUIRED,
        "money moves need approval",  # the category's rule speaks before the flags'
    )
    assert [charge.key.name for charge in decision.charges] == [
        "rate:flag:bulk/bulk pace",
        "rate:*/fleet pace",
    ]


def test_flag_entries_run_in_file_order_whatever_the_order_of_the_tools_flags() -> None:
    # personal_data comes after money in the file: money's failing condition decides.
    for flags in (("money", "personal_data"), ("personal_data", "money")):
        decision = decide(POLICY, "pay_people", {"amount": 500}, flags=flags)
        assert (decision.verdict, decision.rule) == (Verdict.DENY, "small amounts")


def test_validate_arguments_comes_from_the_first_entry_that_sets_it() -> None:
    assert decide(POLICY, "refund", {"amount": 1}, flags=("money",)).validate_arguments
    assert not decide(POLICY, "refund", {"amount": 1}).validate_arguments


def test_the_plan_cache_keys_on_the_flags() -> None:
    policy = compile_text(
        """
        version: "1"
        flags:
          money: {rules: [{name: "no money", action: deny}]}
        """
    )
    call = ToolCall(SERVER, "pay", {})
    for _ in range(2):  # the second round is answered from the cache
        assert policy.evaluate(call, Facts(now=0.0, flags=("money",))).rule == "no money"
        assert policy.evaluate(call, Facts(now=0.0)).verdict is Verdict.ALLOW


def test_only_a_policy_with_flag_entries_uses_flags() -> None:
    assert POLICY.uses_flags
    assert not compile_text('version: "1"\ncategories: {read: {rules: []}}\n').uses_flags


def test_flag_entries_never_list_a_tool_under_default_deny() -> None:
    policy = """
        version: "1"
        default: deny
        flags:
          credentials: {rules: []}
    """
    decision = decide(policy, "read_vault", flags=("credentials",))
    assert (decision.verdict, decision.rule) == (Verdict.DENY, "default")


def sorted_issues(text: str) -> list[PolicyIssue]:
    return sorted(issues_of(text), key=PolicyIssue.sort_key)


def test_a_misspelt_flag_is_refused_with_the_flag_it_meant() -> None:
    key, value = sorted_issues(
        """\
        version: "1"
        flags:
          credentals: {rules: []}
        tools:
          pay:
            flags: [monye]
        """
    )
    assert (key.line, key.column, key.key) == (3, 3, "flags.credentals")
    assert key.message.startswith("'credentals' is not one of 'money', 'credentials'")
    assert key.hint == "did you mean 'credentials'?"
    assert (value.line, value.key, value.hint) == (6, "tools.pay.flags[0]", "did you mean 'money'?")


def test_a_flag_given_twice_on_a_tool_entry_is_refused() -> None:
    (issue,) = issues_of('version: "1"\ntools:\n  pay:\n    flags: [money, bulk, money]\n')
    assert issue.key == "tools.pay.flags"
    assert "money given more than once" in issue.message


def test_state_counters_are_refused_on_flag_entries() -> None:
    (issue,) = issues_of(
        """\
        version: "1"
        flags:
          money:
            rules:
              - name: spend
                conditions: [{path: args.amount, op: lte, value: 10}]
                state: {counter: spent, window: day, increment_from: args.amount}
        """
    )
    assert issue.code == IssueCode.INVALID_RULE
    assert issue.key == "flags.money.rules[0].state"
    assert "not a flag" in issue.message


def test_errors_past_a_misspelt_flag_are_still_reported() -> None:
    issues = sorted_issues(
        """\
        version: "1"
        flags:
          monye: {rules: []}
        tools:
          pay:
            rules:
              - name: cap
                conditions: [{path: state.pay.spent, op: lte, value: 10}]
        """
    )
    assert [issue.code for issue in issues] == [IssueCode.INVALID_VALUE, IssueCode.UNKNOWN_COUNTER]


def test_strict_lint_reads_flag_entries_like_category_entries() -> None:
    policy = compile_text(
        """
        version: "1"
        default: deny
        flags:
          money:
            rules:
              - {name: never, action: deny}
              - {name: after never, rate_limit: 1/day}
        """
    )
    findings = [(issue.code, issue.key) for issue in lint_policy(policy)]
    assert findings == [
        (IssueCode.UNREACHABLE_RULE, "flags.money"),
        (IssueCode.UNREACHABLE_RULE, "flags.money.rules[1]"),
    ]


def test_explain_names_the_flag_entries_that_applied_and_where_the_flags_came_from() -> None:
    classifier = explain(
        POLICY, ToolCall(SERVER, "read_vault", {}), Facts(now=0.0, flags=("credentials", "bulk"))
    )
    texts = [(step.outcome, step.text) for step in classifier.steps]
    assert (Outcome.INFO, "entry flags.credentials: a flag of the tool") in texts
    assert (Outcome.INFO, "entry flags.bulk: a flag of the tool") in texts
    assert (
        Outcome.FAIL,
        "rule 'credentials need approval' (flags.credentials, require_approval): "
        "approval needed (it has no conditions)",
    ) in texts

    pinned = explain(
        POLICY, ToolCall(SERVER, "export_contacts", {}), Facts(now=0.0, flags=("personal_data",))
    )
    lines = [step.text for step in pinned.steps]
    assert "flags: the tool entry sets [] (given: personal_data)" in lines
    assert not any(line.startswith("entry flags.") for line in lines)
    assert pinned.decision.verdict is Verdict.ALLOW


def test_explain_says_when_no_entry_exists_for_a_flag() -> None:
    steps = explain(POLICY, ToolCall(SERVER, "ping", {}), Facts(now=0.0, flags=("open_world",)))
    assert "flags open_world: no flags entry for them" in [step.text for step in steps.steps]


def test_annotate_tools_is_off_unless_the_policy_says_so() -> None:
    assert not POLICY.annotate_tools
    assert compile_text('version: "1"\nannotate_tools: true\n').annotate_tools
