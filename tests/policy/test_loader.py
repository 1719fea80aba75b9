"""Loading and validating policy files: every error, with file:line:column and a hint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from callgate.classifier.classification import Category
from callgate.errors import IssueCode, PolicyError, PolicyIssue
from callgate.policy.compiler import load_compiled_policy
from callgate.policy.loader import load_policy, load_policy_text
from callgate.policy.schema import Action
from callgate.state.counters import Scope


def issues_of(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        load_compiled_policy(textwrap.dedent(text))
    return list(caught.value.issues)


def test_every_error_is_reported_with_position_key_and_hint() -> None:
    issues = issues_of(
        """\
        version: "1"
        defualt: deny
        tools:
          create_issue:
            rules:
              - name: "hourly"
                rate_limit: 5/hr
              - nmae: x
                conditions:
                  - {path: args.a, op: eq, value: 1, vlaue: 2}
        fail_mode: sometimes
        """
    )
    rendered = [issue.render() for issue in issues]
    assert rendered == [
        "<policy>:2:1: defualt: unknown key 'defualt' (did you mean 'default'?)",
        "<policy>:7:9: tools.create_issue.rules[0].rate_limit: rate_limit must look like"
        ' "N/minute", "N/hour" or "N/day", got \'5/hr\''
        ' (e.g. rate_limit: "10/minute" or {max: 10, window: 60, scope: agent})',
        "<policy>:8:9: tools.create_issue.rules[1]: missing required key 'name' (add `name:`)",
        "<policy>:8:9: tools.create_issue.rules[1].nmae: unknown key 'nmae' (did you mean 'name'?)",
        "<policy>:10:46: tools.create_issue.rules[1].conditions[0].vlaue: unknown key 'vlaue'"
        " (did you mean 'value'?)",
        "<policy>:11:1: fail_mode: Input should be 'closed' or 'open'"
        " (use one of the values listed)",
    ]
    assert [issue.code for issue in issues] == [
        IssueCode.UNKNOWN_KEY,
        IssueCode.INVALID_VALUE,
        IssueCode.MISSING_KEY,
        IssueCode.UNKNOWN_KEY,
        IssueCode.UNKNOWN_KEY,
        IssueCode.INVALID_VALUE,
    ]


def test_known_key_at_the_wrong_level_points_at_indentation() -> None:
    (issue,) = issues_of('version: "1"\ntools:\n  t:\nrules: []\n')
    assert (issue.key, issue.line) == ("rules", 4)
    assert issue.hint == "'rules' is valid elsewhere, not here: check the indentation"


def test_yaml_syntax_error_has_its_position() -> None:
    (issue,) = issues_of('version: "1"\ntools: [1\nhide: 2\n')
    assert issue.code == IssueCode.YAML_SYNTAX
    assert (issue.line, issue.column) == (3, 5)


def test_duplicate_key_is_an_error_with_position() -> None:
    (issue,) = issues_of('version: "1"\ndefault: allow\ndefault: deny\n')
    assert issue.code == IssueCode.DUPLICATE_KEY
    assert issue.line == 3


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{name: x}", "evaluate rules must have at least one condition"),
        (
            "{name: x, action: deny, conditions: [{path: args.a, op: exists, value: true}]}",
            "deny rules must not have conditions",
        ),
        (
            "{name: x, rate_limit: 5/hour, conditions: [{path: args.a, op: exists, value: true}]}",
            "rate_limit cannot be combined with conditions or state",
        ),
        ("{name: x, action: deny, rate_limit: 5/hour}", "rate_limit cannot be used with action"),
        ("{name: x, action: explode}", "Input should be 'evaluate', 'deny' or 'require_approval'"),
        ("{name: '', action: deny}", "at least 1 character"),
        ("{name: x, action: deny, on_deny: a, reason: b}", "either on_deny or reason"),
        ("{name: x, action: deny, approval_timeout: 5}", "approval_timeout only applies"),
        ("{name: x, rate_limit: 0/hour}", "positive integer"),
        ("{name: x, rate_limit: {max: 3, window: fortnight}}", "window must be minute"),
        (
            "{name: x, action: deny, state: {counter: c, window: week}}",
            "Input should be 'minute', 'hour' or 'day'",
        ),
        (
            "{name: x, conditions: [{path: args.a, op: gt, value: 1}], "
            "state: {counter: c, window: day, increment: -1}}",
            "finite number >= 0",
        ),
        (
            "{name: x, conditions: [{path: args.a, op: gt, value: 1}], "
            "state: {counter: c, window: day, increment_from: amount}}",
            "must start with 'args.'",
        ),
        (  # regression: a non-numeric string used to escape as decimal.InvalidOperation
            "{name: x, conditions: [{path: args.a, op: gt, value: 1}], "
            "state: {counter: c, window: day, increment: lots}}",
            "increment must be a number, got 'lots'",
        ),
        ("{name: x, conditions: [{op: eq, value: 1}]}", "a condition needs `path`"),
        (
            "{name: x, conditions: [{path: args.a, op: eq, value: 1, any: []}]}",
            "either {path, op, value} or one of any/all/not",
        ),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(rule: str, message: str) -> None:
    issues = issues_of(f'version: "1"\ntools:\n  t:\n    rules:\n      - {rule}\n')
    assert any(message in issue.message for issue in issues), [i.message for i in issues]
    assert all(issue.line == 5 for issue in issues)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version: "2"\n', "Input should be '1'"),
        ("tools: {}\n", "missing required key 'version'"),
        ('version: "1"\nhide: ["a", "a"]\n', "duplicate entry 'a'"),
        ('version: "1"\nhide: [" "]\n', "must not be empty"),
        ('version: "1"\ncategories: {dangerous: {}}\n', "'dangerous' is not one of 'read'"),
        ('version: "1"\nagents: [{name: a}]\n', "exactly one of token_sha256 or token_env"),
        (
            'version: "1"\nagents: [{name: a, token_env: A}, {name: a, token_env: B}]\n',
            "duplicate agent names: a",
        ),
        ('version: "1"\napprovals: {mode: later}\n', "Input should be 'wait' or 'retry'"),
        ('version: "1"\napprovals: {timeout: soon}\n', "expected a duration"),
        ("- just\n- a list\n", "a policy must be a mapping"),
    ],
)
def test_invalid_top_level_values(text: str, message: str) -> None:
    issues = issues_of(text)
    assert any(message in issue.message for issue in issues), [i.message for i in issues]


def test_unknown_counter_reference_is_refused_with_a_suggestion() -> None:
    issues = issues_of(
        """\
        version: "1"
        tools:
          create_issue:
            rules:
              - name: count
                conditions: [{path: state.create_issue.hourly, op: lte, value: 5}]
                state: {counter: hourly_count, window: hour}
        """
    )
    (issue,) = issues
    assert issue.code == IssueCode.UNKNOWN_COUNTER
    assert issue.hint == "did you mean 'state.create_issue.hourly_count'?"
    assert issue.line == 6


def test_duplicate_counters_on_one_tool_are_refused() -> None:
    issues = issues_of(
        """\
        version: "1"
        tools:
          t:
            rules:
              - name: a
                conditions: [{path: state.t.c, op: lte, value: 5}]
                state: {counter: c, window: hour}
              - name: b
                conditions: [{path: state.t.c, op: lte, value: 9}]
                state: {counter: c, window: day}
        """
    )
    (issue,) = issues
    assert issue.code == IssueCode.DUPLICATE_COUNTER
    assert "also used by rules[0]" in issue.message


def test_bad_condition_operator_is_reported_at_the_condition() -> None:
    issues = issues_of(
        """\
        version: "1"
        tools:
          t:
            rules:
              - name: a
                conditions:
                  - {path: args.a, op: equals, value: 1}
                  - {path: argz.a, op: eq, value: 1}
        """
    )
    assert [(issue.code, issue.line) for issue in issues] == [
        (IssueCode.INVALID_CONDITION, 7),
        (IssueCode.INVALID_CONDITION, 8),
    ]


def test_state_counter_under_a_pattern_is_refused() -> None:
    issues = issues_of(
        """\
        version: "1"
        tools:
          "delete_*":
            rules:
              - name: a
                action: deny
                state: {counter: c, window: hour}
        """
    )
    assert [issue.code for issue in issues] == [IssueCode.INVALID_RULE]


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('version: "1"\nbogus: 1\n')
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.issues[0].render().startswith(f"{path}:2:1: bogus:")


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "absent.yaml")
    assert caught.value.issues[0].code == IssueCode.UNREADABLE_FILE


def test_policy_loads_from_path_string_or_text(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text('version: "1"\ndefault: deny\n')
    assert load_policy(str(path)).default == "deny"
    assert load_policy('version: "1"\ndefault: deny\n').default == "deny"


def test_extensions_load_into_the_spec() -> None:
    spec = load_policy_text(
        textwrap.dedent(
            """\
            version: 1
            fail_mode: open
            approvals: {mode: retry, timeout: 2h, approvers: [operator]}
            agents:
              - {name: ci, roles: [deployer], token_env: CI_TOKEN}
            categories:
              destructive: {rules: [{name: ask, action: require_approval}]}
            tools:
              read_file:
              pay:
                category: financial
                validate_arguments: true
                rules:
                  - name: limit
                    rate_limit: {max: 3, window: 90, scope: agent}
            """
        )
    )
    assert spec.version == "1"
    assert spec.fail_mode == "open"
    assert (spec.approvals.mode, spec.approvals.timeout) == ("retry", 7200.0)
    assert spec.agents[0].roles == ["deployer"]
    assert spec.categories[Category.DESTRUCTIVE].rules[0].action is Action.REQUIRE_APPROVAL
    assert spec.tools["read_file"].rules == []
    rate = spec.tools["pay"].rules[0].rate_limit
    assert rate is not None and (rate.max, rate.window, rate.scope) == (3, 90, Scope.AGENT)
