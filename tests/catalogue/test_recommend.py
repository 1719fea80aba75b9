"""Recommended rules for specific shapes of tool, from classifications built by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callgate.catalogue.definition import ToolDefinition, read_definition
from callgate.catalogue.recommend import (
    APPROVAL_THRESHOLD,
    DAILY_SPEND_CAP,
    RULE_APPROVAL,
    RULE_COMMANDS,
    RULE_FORCE,
    RULE_HOSTS,
    RULE_PATHS,
    RULE_RECIPIENTS,
    RULE_SPEND,
    RULE_STATEMENTS,
    RULE_THRESHOLD,
    Recommendation,
    arg_path,
    choose_pace,
    recommend,
    state_path,
)
from callgate.classifier import Category, Flag
from tests.catalogue.checks import assert_recommendation_holds, verdict


def tool(name: str, required: tuple[str, ...] = (), /, **properties: object) -> ToolDefinition:
    """A tool whose schema has `properties` (a JSON type name, or a whole property schema)."""
    schema = {
        name: spec if isinstance(spec, dict) else {"type": spec}
        for name, spec in properties.items()
    }
    return read_definition(
        {
            "name": name,
            "description": "a tool",
            "inputSchema": {"type": "object", "properties": schema, "required": list(required)},
        }
    )


def _recommend(definition: ToolDefinition, category: Category, *flags: Flag) -> Recommendation:
    recommendation = recommend(definition, verdict(definition.name, category, *flags))
    assert recommendation is not None
    return recommendation


def _rules(recommendation: Recommendation) -> list[str]:
    return [rule.name for rule in recommendation.rules]


def _rule(recommendation: Recommendation, name: str) -> dict[str, Any]:
    return next(rule.rule for rule in recommendation.rules if rule.name == name)


def test_financial_tool_with_a_numeric_amount_asks_above_a_threshold_and_caps_the_day(
    tmp_path: Path,
) -> None:
    refund = tool("create_refund", ("payment",), payment="string", amount="integer")

    recommendation = _recommend(refund, Category.FINANCIAL, Flag.MONEY)

    assert _rules(recommendation) == [
        RULE_THRESHOLD,
        RULE_SPEND,
        "at most 10 calls an hour per agent",
    ]
    assert _rule(recommendation, RULE_THRESHOLD)["conditions"] == [
        {"path": "args.amount", "op": "gt", "value": APPROVAL_THRESHOLD}
    ]
    spend = _rule(recommendation, RULE_SPEND)
    assert spend["state"] == {
        "counter": "daily_spend",
        "window": "day",
        "increment_from": "args.amount",
    }
    assert spend["conditions"] == [
        {"path": "state.create_refund.daily_spend", "op": "lte", "value": DAILY_SPEND_CAP}
    ]
    assert {case["expect"] for case in recommendation.cases} == {
        "allow",
        "approval_required",
        "deny",
        "rate_limited",
    }
    assert any("unit of `amount`" in line for line in recommendation.placeholders)
    assert_recommendation_holds(recommendation, tmp_path)


def test_financial_tool_with_a_text_amount_asks_every_time_and_still_caps_the_day(
    tmp_path: Path,
) -> None:
    order = tool("place_order", notional={"type": ["string", "null"]})

    recommendation = _recommend(order, Category.FINANCIAL)

    assert _rules(recommendation)[:2] == [RULE_SPEND, RULE_APPROVAL]
    assert_recommendation_holds(recommendation, tmp_path)


def test_financial_tool_without_an_amount_asks_every_time(tmp_path: Path) -> None:
    recommendation = _recommend(tool("cancel_subscription", id="string"), Category.FINANCIAL)

    assert _rules(recommendation) == [RULE_APPROVAL, "at most 10 calls an hour per agent"]
    assert_recommendation_holds(recommendation, tmp_path)


def test_execute_tool_with_a_command_gets_an_allowlist_and_approval(tmp_path: Path) -> None:
    shell = tool("run_command", ("command",), command="string", cwd="string")

    recommendation = _recommend(shell, Category.EXECUTE, Flag.CODE_EXECUTION)

    assert _rules(recommendation) == [
        RULE_COMMANDS,
        RULE_PATHS,
        RULE_APPROVAL,
        "at most 10 calls a minute per session",
    ]
    # Required: the plain condition. Optional (cwd): absent, or inside the workspace.
    assert _rule(recommendation, RULE_COMMANDS)["conditions"] == [
        {"path": "args.command", "op": "in", "value": ["replace-with-an-allowed-command"]}
    ]
    assert _rule(recommendation, RULE_PATHS)["conditions"][0]["any"][0] == {
        "path": "args.cwd",
        "op": "exists",
        "value": False,
    }
    assert recommendation.validate_arguments
    assert len(recommendation.placeholders) == 2
    assert_recommendation_holds(recommendation, tmp_path)


def test_destructive_tool_with_recursive_asks_every_time(tmp_path: Path) -> None:
    remove = tool("delete_directory", ("path",), path="string", recursive="boolean")

    recommendation = _recommend(remove, Category.DESTRUCTIVE, Flag.BULK)

    assert _rules(recommendation) == [
        RULE_PATHS,
        RULE_APPROVAL,
        "at most 3 calls an hour per agent",
    ]
    assert_recommendation_holds(recommendation, tmp_path)


def test_write_tool_with_force_and_recursive_asks_only_when_they_are_set(tmp_path: Path) -> None:
    push = tool("push_branch", force="boolean", recursive="boolean", branch="string")

    recommendation = _recommend(push, Category.WRITE)

    assert _rules(recommendation) == [RULE_FORCE, "at most 30 calls an hour per session"]
    asks = _rule(recommendation, RULE_FORCE)["conditions"][0]["any"]
    assert asks[0] == {
        "all": [
            {"path": "args.force", "op": "exists", "value": True},
            {"path": "args.force", "op": "eq", "value": True},
        ]
    }
    allowed = next(case for case in recommendation.cases if case["expect"] == "allow")
    assert allowed["args"] == {"force": False, "recursive": False}
    assert_recommendation_holds(recommendation, tmp_path)


def test_read_of_credentials_asks_every_time_at_a_slow_pace(tmp_path: Path) -> None:
    secret = tool("get_secret_value", ("secret_id",), secret_id="string")

    recommendation = _recommend(secret, Category.READ, Flag.CREDENTIALS)

    assert _rules(recommendation) == [RULE_APPROVAL, "at most 5 calls an hour per agent"]
    assert "credentials" in recommendation.rules[0].why
    assert_recommendation_holds(recommendation, tmp_path)


def test_read_of_personal_data_is_paced_per_agent_without_approval(tmp_path: Path) -> None:
    recommendation = _recommend(
        tool("list_customers", limit="integer"), Category.READ, Flag.PERSONAL_DATA
    )

    assert _rules(recommendation) == ["at most 100 calls an hour per agent"]
    assert_recommendation_holds(recommendation, tmp_path)


def test_a_plain_read_is_allowed_and_paced_per_session(tmp_path: Path) -> None:
    recommendation = _recommend(tool("list_things"), Category.READ)

    assert _rules(recommendation) == ["at most 60 calls a minute per session"]
    assert [case["expect"] for case in recommendation.cases] == ["allow", "rate_limited"]
    assert_recommendation_holds(recommendation, tmp_path)


def test_urls_get_a_host_allowlist_lists_by_element(tmp_path: Path) -> None:
    fetch = tool(
        "fetch",
        ("url",),
        url="string",
        mirror_urls={"type": "array", "items": {"type": "string"}},
        callback={"type": "string", "format": "uri"},
    )

    recommendation = _recommend(fetch, Category.READ, Flag.OPEN_WORLD)

    conditions = _rule(recommendation, RULE_HOSTS)["conditions"]
    assert conditions[0] == {"path": "args.url", "op": "url_host_in", "value": ["api.example.com"]}
    assert conditions[1]["any"] == [
        {"path": "args.mirror_urls", "op": "exists", "value": False},
        {"path": "args.mirror_urls", "op": "length_lte", "value": 0},
        {"path": "args.mirror_urls[*]", "op": "url_host_in", "value": ["api.example.com"]},
    ]
    assert conditions[2]["any"][1]["path"] == "args.callback"
    assert_recommendation_holds(recommendation, tmp_path)


def test_a_tool_that_drives_a_browser_is_fenced_not_approved_click_by_click(
    tmp_path: Path,
) -> None:
    navigate = tool("browser_navigate", ("url",), url="string")
    driving = recommend(navigate, verdict("browser_navigate", Category.EXECUTE, rule=7))
    running = recommend(navigate, verdict("browser_navigate", Category.EXECUTE, rule=5))

    assert driving is not None and running is not None
    assert RULE_APPROVAL not in _rules(driving)
    assert RULE_HOSTS in _rules(driving)
    assert any("rate_limit" in rule.rule for rule in driving.rules)
    assert RULE_APPROVAL in _rules(running)
    assert_recommendation_holds(driving, tmp_path)


def test_sending_tool_gets_a_recipient_allowlist(tmp_path: Path) -> None:
    send = tool(
        "send_email",
        ("to",),
        to={"type": "array", "items": {"type": "string"}},
        bcc={"type": "array", "items": {"type": "string"}},
        body="string",
    )

    recommendation = _recommend(send, Category.EXECUTE, Flag.EXTERNAL_COMMS)

    assert _rules(recommendation) == [
        RULE_RECIPIENTS,
        RULE_APPROVAL,
        "at most 20 calls an hour per agent",
    ]
    assert_recommendation_holds(recommendation, tmp_path)


def test_query_tool_asks_before_statements_that_change_data(tmp_path: Path) -> None:
    query = tool("run_sql", ("sql",), sql="string")

    recommendation = _recommend(query, Category.READ)

    assert _rules(recommendation)[0] == RULE_STATEMENTS
    firing = next(case for case in recommendation.cases if case.get("rule") == RULE_STATEMENTS)
    assert firing["args"] == {"sql": "DELETE FROM customers"}
    assert_recommendation_holds(recommendation, tmp_path)


def test_parameters_with_odd_names_are_quoted_and_unnameable_ones_left_out(
    tmp_path: Path,
) -> None:
    names: dict[str, object] = {"Parameter1.Url": "string", 'a"b[url]': "string", "*": "string"}
    odd = tool("configure", **names)

    recommendation = _recommend(odd, Category.WRITE)

    paths = [c["any"][1]["path"] for c in _rule(recommendation, RULE_HOSTS)["conditions"]]
    assert paths == ['args["Parameter1.Url"]', 'args["a\\"b[url]"]']
    assert_recommendation_holds(recommendation, tmp_path)


def test_a_tool_without_a_schema_gets_no_argument_rules_and_no_validation(tmp_path: Path) -> None:
    bare = read_definition({"name": "CloneContainerToECR", "description": ""})

    recommendation = _recommend(bare, Category.EXECUTE)

    assert not recommendation.validate_arguments
    assert _rules(recommendation) == [RULE_APPROVAL, "at most 10 calls a minute per session"]
    assert_recommendation_holds(recommendation, tmp_path)


ODD_NAMES = [
    "yes",
    "null",
    "on",
    "~",
    "*",
    "a*b",
    "- x",
    "#hash",
    "a: b",
    "[x]",
    "&anchor",
    "a.b/c d",
    "ünïcödé ✓",
    'quo"te',
    "back\\slash",
    "new\nline",
    " padded ",
    "   ",
    "_global",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_tool_names_round_trip_validate_and_fire(tmp_path: Path, name: str) -> None:
    payment = tool(name, amount="number", url="string")

    recommendation = _recommend(payment, Category.FINANCIAL)

    assert recommendation.tool == name
    assert_recommendation_holds(recommendation, tmp_path)
    if "*" in name:
        assert RULE_SPEND not in _rules(recommendation)
        assert any("pattern" in note for note in recommendation.notes)
    else:
        assert RULE_SPEND in _rules(recommendation)
    assert recommendation.hideable == bool(name.strip())


def test_a_nameless_tool_gets_no_recommendation() -> None:
    assert recommend(read_definition({"name": ""}), verdict("", Category.READ)) is None


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("amount", "args.amount"),
        ("a.b", 'args["a.b"]'),
        ("a[0]", 'args["a[0]"]'),
        ("it's", 'args["it\'s"]'),
        ("*", None),
        ("", None),
    ],
)
def test_argument_paths(name: str, path: str | None) -> None:
    assert arg_path(name) == path


def test_state_paths_need_an_exact_tool_entry() -> None:
    assert state_path("refund", "daily_spend") == "state.refund.daily_spend"
    assert state_path("stripe.refund", "daily_spend") == 'state["stripe.refund"].daily_spend'
    assert state_path("refund_*", "daily_spend") is None


@pytest.mark.parametrize(
    ("category", "flags", "expected"),
    [
        (Category.READ, (), "60 calls a minute per session"),
        (Category.READ, (Flag.EXTERNAL_COMMS,), "60 calls a minute per session"),
        (Category.EXECUTE, (Flag.EXTERNAL_COMMS,), "20 calls an hour per agent"),
        (Category.WRITE, (Flag.INFRASTRUCTURE, Flag.BULK), "3 calls an hour per agent"),
        (Category.DESTRUCTIVE, (Flag.CREDENTIALS,), "5 calls an hour per agent"),
        (Category.FINANCIAL, (Flag.MONEY,), "10 calls an hour per agent"),
    ],
)
def test_the_tightest_pace_wins(category: Category, flags: tuple[Flag, ...], expected: str) -> None:
    pace, _ = choose_pace(verdict("t", category, *flags))

    assert pace.describe() == expected
