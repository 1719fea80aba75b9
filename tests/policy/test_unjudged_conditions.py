"""Conditions that cannot judge a call count against it, never for it.

Regression for the fail-open found by the conditions author: a leaf that cannot judge the
call (missing argument, wrong type, null, no or empty wildcard list) answered False, which
let the call skip a `require_approval` rule and pass a `not` group. The compiler now
compiles approval leaves with `unknown=True` and flips the flag under `not`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callgate.policy.compiler import CompiledCondition, load_compiled_policy
from callgate.policy.decision import Facts, ToolCall, Verdict
from callgate.policy.explain import Outcome, explain
from tests.policy.support import SERVER, compile_text, decide

ALLOW, DENY, ASK = Verdict.ALLOW, Verdict.DENY, Verdict.APPROVAL_REQUIRED
MISSING: dict[str, Any] = {}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def one_rule(name: str, action: str, condition: str) -> str:
    """A policy whose tool `t` has one rule with one condition."""
    return f"""
        version: "1"
        tools:
          t:
            rules:
              - name: "{name}"
                action: {action}
                conditions:
                  - {condition}
    """


def approval_when(condition: str) -> str:
    """A policy whose only rule asks for approval when `condition` holds."""
    return one_rule("ask", "require_approval", condition)


def allowed_when(condition: str) -> str:
    """A policy whose only rule allows the call when `condition` holds."""
    return one_rule("check", "evaluate", condition)


AMOUNT_OVER = approval_when("{path: args.amount, op: gt, value: 50000}")


@pytest.mark.parametrize(
    ("policy", "args", "verdict"),
    [
        # A number is judged: approval only above the limit.
        (AMOUNT_OVER, {"amount": 10}, ALLOW),
        (AMOUNT_OVER, {"amount": 60_000}, ASK),
        (AMOUNT_OVER, {"amount": 60_000.5}, ASK),
        # Anything else cannot be compared with 50000: ask.
        (AMOUNT_OVER, MISSING, ASK),
        (AMOUNT_OVER, {"amount": "60000"}, ASK),
        (AMOUNT_OVER, {"amount": "10"}, ASK),
        (AMOUNT_OVER, {"amount": None}, ASK),
        (AMOUNT_OVER, {"amount": True}, ASK),
        (AMOUNT_OVER, {"amount": [60_000]}, ASK),
        (AMOUNT_OVER, {"amount": {"value": 60_000}}, ASK),
        (AMOUNT_OVER, {"amount": float("nan")}, ASK),
        # Each operator's types: judged values decide, the others ask.
        (approval_when("{path: args.env, op: eq, value: prod}"), {"env": "dev"}, ALLOW),
        (approval_when("{path: args.env, op: eq, value: prod}"), MISSING, ASK),
        (approval_when("{path: args.env, op: neq, value: dev}"), MISSING, ASK),
        (approval_when("{path: args.env, op: in, value: [prod, stage]}"), MISSING, ASK),
        (approval_when("{path: args.env, op: not_in, value: [dev]}"), {"env": "dev"}, ALLOW),
        (approval_when("{path: args.env, op: not_in, value: [dev]}"), MISSING, ASK),
        (approval_when("{path: args.ref, op: regex, value: '^main$'}"), {"ref": "dev"}, ALLOW),
        (approval_when("{path: args.ref, op: regex, value: '^main$'}"), {"ref": 7}, ASK),
        (approval_when("{path: args.ref, op: not_regex, value: '^feat/'}"), {"ref": 7}, ASK),
        (approval_when("{path: args.file, op: glob, value: '*.env'}"), {"file": None}, ASK),
        (approval_when("{path: args.tags, op: contains, value: admin}"), {"tags": []}, ALLOW),
        (approval_when("{path: args.tags, op: contains, value: admin}"), {"tags": 3}, ASK),
        (approval_when("{path: args.body, op: length_gte, value: 10}"), {"body": "hi"}, ALLOW),
        (approval_when("{path: args.body, op: length_gte, value: 10}"), {"body": 12}, ASK),
        (
            approval_when("{path: args.to, op: path_within, value: /tmp}"),
            {"to": "/home/x"},
            ALLOW,
        ),
        (
            approval_when("{path: args.to, op: path_within, value: /tmp}"),
            {"to": "/tmp/x"},
            ASK,
        ),
        (approval_when("{path: args.to, op: path_within, value: /tmp}"), {"to": ["/x"]}, ASK),
        # A relative path is within nothing known: the directory it starts from is not
        # in the call, so "../tmp/x" may well be inside /tmp.
        (
            approval_when("{path: args.to, op: path_within, value: /tmp}"),
            {"to": "../tmp/x"},
            ASK,
        ),
        (
            approval_when("{path: args.url, op: url_host_in, value: [evil.example]}"),
            {"url": "https://ok.example\\@evil.example/"},
            ASK,
        ),
        (
            approval_when("{path: args.url, op: url_host_in, value: [evil.example]}"),
            {"url": "https://ok.example/"},
            ALLOW,
        ),
        (
            approval_when("{path: args.url, op: url_host_in, value: [evil.example]}"),
            {"url": False},
            ASK,
        ),
        # `exists` judges presence itself, so a missing value is an answer, not a doubt.
        (approval_when("{path: args.force, op: exists, value: true}"), MISSING, ALLOW),
        (approval_when("{path: args.force, op: exists, value: true}"), {"force": 1}, ASK),
        (approval_when("{path: args.force, op: exists, value: false}"), MISSING, ASK),
        # Nested paths: a missing or non-object parent cannot be judged either.
        (approval_when("{path: args.card.amount, op: gt, value: 5}"), {"card": "x"}, ASK),
        (approval_when("{path: args.card.amount, op: gt, value: 5}"), {"card": {}}, ASK),
        (
            approval_when("{path: args.card.amount, op: gt, value: 5}"),
            {"card": {"amount": 1}},
            ALLOW,
        ),
    ],
)
def test_approval_is_required_when_its_condition_cannot_be_judged(
    policy: str, args: dict[str, Any], verdict: Verdict
) -> None:
    assert decide(policy, "t", args).verdict is verdict


ITEMS_OVER = approval_when("{path: 'args.items[*].amount', op: gt, value: 100}")


@pytest.mark.parametrize(
    ("args", "verdict"),
    [
        ({"items": [{"amount": 500}, {"amount": 101}]}, ASK),
        ({"items": [{"amount": 5}]}, ALLOW),
        # No list, or an empty one, says nothing about its elements: ask.
        (MISSING, ASK),
        ({"items": []}, ASK),
        ({"items": None}, ASK),
        ({"items": "500"}, ASK),
        ({"items": {"amount": 500}}, ASK),
        # Elements that cannot be judged count as over the limit...
        ({"items": [{"amount": 500}, {}]}, ASK),
        ({"items": [{"amount": "5"}]}, ASK),
        # ...but one element judged below it settles "every amount is over 100".
        ({"items": [{"amount": 5}, {}]}, ALLOW),
    ],
)
def test_approval_over_a_wildcard_asks_for_an_empty_or_unjudgeable_list(
    args: dict[str, Any], verdict: Verdict
) -> None:
    assert decide(ITEMS_OVER, "t", args).verdict is verdict


NOT_PROD = allowed_when("not: {path: args.env, op: eq, value: prod}")
NOT_OVER = allowed_when("not: {path: args.amount, op: gt, value: 100}")
NOT_NOT = allowed_when("not: {not: {path: args.env, op: eq, value: dev}}")
NOT_ANY = allowed_when(
    "not: {any: [{path: args.env, op: eq, value: prod}, {path: args.region, op: eq, value: eu}]}"
)
NOT_ALL = allowed_when(
    "not: {all: [{path: args.branch, op: eq, value: main},"
    " {path: args.force, op: eq, value: true}]}"
)
ANY_OF = allowed_when(
    "any: [{path: args.env, op: eq, value: dev}, {path: args.owner, op: eq, value: me}]"
)
NOT_SECRET = allowed_when("not: {path: 'args.files[*].tag', op: eq, value: secret}")


@pytest.mark.parametrize(
    ("policy", "args", "verdict"),
    [
        (NOT_PROD, {"env": "dev"}, ALLOW),
        (NOT_PROD, {"env": "prod"}, DENY),
        (NOT_PROD, MISSING, DENY),  # was ALLOW: not(False)
        (NOT_PROD, {"env": None}, ALLOW),  # eq judges null (Go's %v "<nil>" is not "prod")
        (NOT_OVER, {"amount": 50}, ALLOW),
        (NOT_OVER, {"amount": 500}, DENY),
        (NOT_OVER, {"amount": "500"}, DENY),  # was ALLOW: a string is not "gt 100"
        (NOT_OVER, {"amount": None}, DENY),
        (NOT_OVER, MISSING, DENY),
        # Two `not`s flip the flag back: the leaf is an allow-condition again.
        (NOT_NOT, {"env": "dev"}, ALLOW),
        (NOT_NOT, {"env": "prod"}, DENY),
        (NOT_NOT, MISSING, DENY),
        # `any` / `all` under `not` pass the flipped flag to every child.
        (NOT_ANY, {"env": "dev", "region": "us"}, ALLOW),
        (NOT_ANY, {"env": "dev", "region": "eu"}, DENY),
        (NOT_ANY, {"region": "us"}, DENY),  # was ALLOW
        (NOT_ANY, {"env": "dev"}, DENY),  # was ALLOW
        (NOT_ALL, {"branch": "main", "force": False}, ALLOW),
        (NOT_ALL, {"branch": "dev"}, ALLOW),  # branch judged: all(...) is False whatever force is
        (NOT_ALL, {"branch": "main"}, DENY),  # was ALLOW: force unknown
        (NOT_ALL, MISSING, DENY),
        # Outside `not`, a judged child of `any` may still allow the call.
        (ANY_OF, {"owner": "me"}, ALLOW),
        (ANY_OF, {"env": "dev"}, ALLOW),
        (ANY_OF, {"env": "prod"}, DENY),
        (ANY_OF, MISSING, DENY),
        # An empty or missing wildcard list under `not` proves nothing: deny.
        (NOT_SECRET, {"files": [{"tag": "public"}]}, ALLOW),
        (NOT_SECRET, {"files": [{"tag": "secret"}]}, DENY),
        (NOT_SECRET, {"files": []}, DENY),  # was ALLOW
        (NOT_SECRET, MISSING, DENY),  # was ALLOW
        (NOT_SECRET, {"files": "x"}, DENY),  # was ALLOW
    ],
)
def test_a_condition_under_not_that_cannot_be_judged_denies(
    policy: str, args: dict[str, Any], verdict: Verdict
) -> None:
    assert decide(policy, "t", args).verdict is verdict


@pytest.mark.parametrize(
    ("policy", "args", "verdict"),
    [
        # Approval unless the call is judged to be in dev.
        (approval_when("not: {path: args.env, op: eq, value: dev}"), {"env": "dev"}, ALLOW),
        (approval_when("not: {path: args.env, op: eq, value: dev}"), MISSING, ASK),
        (approval_when("not: {path: args.size, op: lte, value: 10}"), {"size": "1"}, ASK),
        (approval_when("not: {not: {path: args.size, op: gt, value: 10}}"), MISSING, ASK),
        (
            approval_when(
                "any: [{path: args.amount, op: gt, value: 100}, {path: args.c, op: eq, value: x}]"
            ),
            {"c": "y"},
            ASK,
        ),
        # `all`: one child judged False settles it, whatever the other could not judge.
        (
            approval_when(
                "all: [{path: args.amount, op: gt, value: 100}, {path: args.c, op: eq, value: x}]"
            ),
            {"c": "y"},
            ALLOW,
        ),
        (
            approval_when(
                "all: [{path: args.amount, op: gt, value: 100}, {path: args.c, op: eq, value: x}]"
            ),
            {"c": "x"},
            ASK,
        ),
    ],
)
def test_approval_groups_pass_the_flag_and_not_flips_it(
    policy: str, args: dict[str, Any], verdict: Verdict
) -> None:
    assert decide(policy, "t", args).verdict is verdict


def test_one_leaf_in_an_approval_and_an_evaluate_rule_compiles_twice() -> None:
    # The compiler shares identical leaves; the flag must be part of what is shared.
    policy = compile_text(
        """
        version: "1"
        tools:
          ask:
            rules:
              - name: "ask"
                action: require_approval
                conditions: [{path: args.n, op: eq, value: 1}]
          check:
            rules:
              - name: "check"
                conditions: [{path: args.n, op: eq, value: 1}]
        """
    )
    assert decide(policy, "ask").verdict is ASK
    assert decide(policy, "check").verdict is DENY
    assert decide(policy, "ask", {"n": 2}).verdict is ALLOW
    assert decide(policy, "check", {"n": 1}).verdict is ALLOW


def test_an_approval_rule_that_cannot_judge_still_leaves_later_rules_to_deny() -> None:
    policy = compile_text(
        """
        version: "1"
        tools:
          pay:
            rules:
              - name: "big"
                action: require_approval
                conditions: [{path: args.amount, op: gt, value: 50000}]
              - name: "usd"
                conditions: [{path: args.currency, op: eq, value: usd}]
        """
    )
    assert decide(policy, "pay", {"currency": "usd"}).rule == "big"
    assert decide(policy, "pay", {"currency": "eur"}).verdict is DENY


def _leaves(condition: CompiledCondition) -> list[CompiledCondition]:
    if not condition.children:
        return [condition]
    return [leaf for child in condition.children for leaf in _leaves(child)]


INTERCEPT_POLICIES = sorted(
    p for p in (EXAMPLES / "intercept").glob("*.yaml") if not p.name.endswith(".test.yaml")
)


@pytest.mark.parametrize("policy", INTERCEPT_POLICIES, ids=lambda p: p.name)
def test_intercept_policies_keep_intercepts_false_for_unjudged_values(policy: Path) -> None:
    # Intercept has no `not` and no require_approval: every leaf must answer False when
    # it cannot judge, exactly as before (their own test files run in test_examples.py).
    compiled = load_compiled_policy(policy)
    entries = [*compiled.tools.values(), *(e for _, e in compiled.patterns)]
    if compiled.wildcard is not None:
        entries.append(compiled.wildcard)
    leaves = [
        leaf
        for entry in entries
        for rule in entry.rules
        for condition in rule.conditions
        for leaf in _leaves(condition)
    ]
    assert leaves
    assert not any(leaf.unknown for leaf in leaves)


# -- explain says why ---------------------------------------------------------------------


def _explained(policy: str, args: dict[str, Any]) -> list[tuple[Outcome, int, str]]:
    compiled = compile_text(policy)
    result = explain(compiled, ToolCall(SERVER, "t", args), Facts(now=0.0))
    return [(step.outcome, step.depth, step.text) for step in result.steps]


@pytest.mark.parametrize(
    ("policy", "args", "head", "leaf"),
    [
        (
            AMOUNT_OVER,
            MISSING,
            "rule 'ask' (tools.t, require_approval): args.amount is missing: approval "
            "required because the condition cannot be judged",
            "args.amount gt 50000: true (args.amount = missing; cannot be judged, counted as true)",
        ),
        (
            AMOUNT_OVER,
            {"amount": "60000"},
            "rule 'ask' (tools.t, require_approval): args.amount is a string, which gt "
            "cannot judge: approval required because the condition cannot be judged",
            "args.amount gt 50000: true (args.amount = '60000'; cannot be judged, counted as true)",
        ),
        (
            AMOUNT_OVER,
            {"amount": None},
            "rule 'ask' (tools.t, require_approval): args.amount is null: approval "
            "required because the condition cannot be judged",
            "args.amount gt 50000: true (args.amount = None; cannot be judged, counted as true)",
        ),
        (
            ITEMS_OVER,
            {"items": []},
            "rule 'ask' (tools.t, require_approval): args.items is an empty list: approval "
            "required because the condition cannot be judged",
            "args.items[*].amount gt 100: true (args.items = []; cannot be judged, "
            "counted as true)",
        ),
        (
            NOT_PROD,
            MISSING,
            "rule 'check' (tools.t, evaluate): args.env is missing: the call is denied "
            "because the condition cannot be judged",
            "args.env eq 'prod': true (args.env = missing; cannot be judged, counted as true)",
        ),
    ],
)
def test_explain_says_which_value_could_not_be_judged_and_what_that_meant(
    policy: str, args: dict[str, Any], head: str, leaf: str
) -> None:
    texts = _explained(policy, args)
    assert (Outcome.FAIL, 0, head) in texts
    assert any(text == leaf for _, depth, text in texts if depth >= 1)


def test_explain_says_nothing_about_judging_when_every_value_was_judged() -> None:
    texts = _explained(AMOUNT_OVER, {"amount": 60_000})
    assert (
        Outcome.FAIL,
        0,
        "rule 'ask' (tools.t, require_approval): approval needed (its conditions hold)",
    ) in texts
    assert not any("judged" in text for _, _, text in texts)


def test_the_github_example_asks_before_a_push_that_names_no_branch() -> None:
    # Without `branch` the push goes to the repository's default branch: usually main.
    policy = load_compiled_policy(EXAMPLES / "github.yaml")
    files = [{"path": "src/app.py", "content": "print(1)"}]
    unnamed = decide(policy, "push_files", {"files": files})
    assert (unnamed.verdict, unnamed.rule) == (ASK, "protected branches need approval")
    assert decide(policy, "push_files", {"branch": "feat/x", "files": files}).verdict is ALLOW
