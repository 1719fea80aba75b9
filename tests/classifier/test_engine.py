"""The classifier's reading of single tools: every signal, its reasons and its confidence."""

from __future__ import annotations

from typing import Any

import pytest

from callgate.classifier import Category, Confidence, Severity, classify_tool


def _tool(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, **extra}


def _schema(*names: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string"} for name in names}}


def test_seed_clone_container_to_ecr_is_execute_high_with_low_confidence() -> None:
    result = classify_tool({"name": "CloneContainerToECR", "description": ""})

    assert result.category is Category.EXECUTE
    assert result.severity is Severity.HIGH
    assert result.confidence is Confidence.LOW
    text = " ".join(result.reasons)
    assert "clone" in text
    assert "container" in text
    assert "push" in text
    assert "description is empty" in text


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("delete_file", Category.DESTRUCTIVE),
        ("drop-database", Category.DESTRUCTIVE),
        ("aws_s3_put_object", Category.WRITE),
        ("ListBuckets", Category.READ),
        ("issue_read", Category.READ),
        ("label_write", Category.WRITE),
        ("actions_run_trigger", Category.EXECUTE),
        ("create_refund", Category.FINANCIAL),
        ("get_invoice", Category.FINANCIAL),
        ("stripe_search_documentation", Category.FINANCIAL),
        ("get_merge_request", Category.READ),
        ("create_or_delete_branch", Category.DESTRUCTIVE),
    ],
)
def test_name_verbs_and_objects_decide_the_category(name: str, category: Category) -> None:
    assert classify_tool(_tool(name, "")).category is category


def test_description_decides_when_the_name_has_no_verb() -> None:
    result = classify_tool(_tool("make_api_request", "Execute API calls to the service"))

    assert result.category is Category.EXECUTE
    assert any("description verb 'execute'" in reason for reason in result.reasons)


def test_description_phrase_raises_to_destructive_and_says_the_more_dangerous_wins() -> None:
    result = classify_tool(_tool("update_records", "Updates records; permanently erases old rows"))

    assert result.category is Category.DESTRUCTIVE
    assert any("the more dangerous destructive wins" in reason for reason in result.reasons)
    assert result.confidence is not Confidence.HIGH


def test_command_property_makes_a_tool_execute_and_critical() -> None:
    result = classify_tool(
        _tool("terminal_session", "Opens a session", inputSchema=_schema("command", "cwd"))
    )

    assert result.category is Category.EXECUTE
    assert result.severity is Severity.CRITICAL
    assert any("`command`" in reason for reason in result.reasons)


def test_amount_and_currency_properties_make_a_tool_financial() -> None:
    result = classify_tool(
        _tool("create_transfer", "Create a transfer", inputSchema=_schema("amount", "currency"))
    )

    assert result.category is Category.FINANCIAL
    assert result.severity is Severity.CRITICAL


def test_force_property_raises_severity_of_a_write() -> None:
    plain = classify_tool(_tool("push_branch", "Push a branch", inputSchema=_schema("branch")))
    forced = classify_tool(
        _tool("push_branch", "Push a branch", inputSchema=_schema("branch", "force"))
    )

    assert plain.severity is Severity.MEDIUM
    assert forced.severity is Severity.HIGH


def test_url_property_raises_a_read_to_medium() -> None:
    result = classify_tool(_tool("fetch_page", "Fetch a web page", inputSchema=_schema("url")))

    assert result.category is Category.READ
    assert result.severity is Severity.MEDIUM


def test_sql_property_on_a_read_only_query_tool_stays_read() -> None:
    result = classify_tool(
        _tool("query_sql", "Execute read-only SQL queries", inputSchema=_schema("sql"))
    )

    assert result.category is Category.READ


def test_sql_property_without_a_verb_is_execute() -> None:
    result = classify_tool(_tool("neon_sql", "Database access", inputSchema=_schema("sql")))

    assert result.category is Category.EXECUTE


def test_destructive_hint_raises_a_write_to_destructive() -> None:
    result = classify_tool(
        _tool(
            "write_file",
            "Create or overwrite a file",
            annotations={"readOnlyHint": False, "destructiveHint": True},
        )
    )

    assert result.category is Category.DESTRUCTIVE
    assert any("destructiveHint" in reason for reason in result.reasons)


def test_read_only_hint_confirms_and_decides_a_verbless_tool() -> None:
    result = classify_tool(
        _tool("directory_tree", "", annotations={"readOnlyHint": True, "openWorldHint": False})
    )

    assert result.category is Category.READ


def test_read_only_hint_against_a_run_verb_keeps_execute_with_lower_confidence() -> None:
    hinted = classify_tool(_tool("run_report", "Run a report", annotations={"readOnlyHint": True}))
    plain = classify_tool(_tool("run_report", "Run a report"))

    assert hinted.category is Category.EXECUTE
    assert hinted.score < plain.score


def test_empty_description_lowers_confidence() -> None:
    described = classify_tool(_tool("delete_file", "Delete a file"))
    bare = classify_tool(_tool("delete_file", ""))

    assert described.confidence is Confidence.HIGH
    assert bare.score < described.score


def test_unknown_verb_is_assumed_write_with_low_confidence() -> None:
    result = classify_tool(_tool("frobnicate_widget", "Frobnicates the widget"))

    assert result.category is Category.WRITE
    assert result.confidence is Confidence.LOW
    assert any("no known verb" in reason for reason in result.reasons)


@pytest.mark.parametrize(
    "tool",
    [
        {},
        {"name": None, "description": 7},
        {"name": "x", "inputSchema": "not a schema", "annotations": ["nope"]},
        {"name": "x", "inputSchema": {"properties": [1, 2]}},
    ],
)
def test_malformed_definitions_are_classified_not_crashed(tool: dict[str, Any]) -> None:
    result = classify_tool(tool)

    assert result.category in Category
    assert 0.0 <= result.score <= 1.0


def test_classification_is_deterministic_and_serialisable() -> None:
    tool = _tool("delete_branch", "Remove an existing branch", inputSchema=_schema("force"))

    first, second = classify_tool(tool), classify_tool(dict(tool))

    assert first == second
    assert first.to_dict() == {
        "name": "delete_branch",
        "category": "destructive",
        "severity": "critical",
        "confidence": first.confidence.value,
        "score": first.score,
        "reasons": list(first.reasons),
    }


def test_arbitrary_query_phrase_makes_a_query_tool_execute() -> None:
    result = classify_tool(_tool("query", "Execute any SQL query, including DDL"))

    assert result.category is Category.EXECUTE
    assert result.confidence is not Confidence.HIGH


def test_read_only_claim_bounds_an_arbitrary_query_phrase() -> None:
    result = classify_tool(_tool("read-cypher", "Execute arbitrary Cypher queries in read mode"))

    assert result.category is Category.READ


def test_money_mentioned_by_a_read_tool_does_not_make_it_financial() -> None:
    result = classify_tool(_tool("get_order", "Get an order, including its payment status"))

    assert result.category is Category.READ


def test_money_moving_phrase_makes_a_generic_tool_financial() -> None:
    result = classify_tool(_tool("process", "Process a payment for an order"))

    assert result.category is Category.FINANCIAL


def test_read_verb_on_a_money_object_is_financial_without_conflict() -> None:
    result = classify_tool(_tool("get_invoice", "Retrieve an invoice"))

    assert result.category is Category.FINANCIAL
    assert result.confidence is Confidence.HIGH
    assert not any("more dangerous" in reason for reason in result.reasons)


def test_opening_an_issue_creates_it_while_opening_nodes_reads_them() -> None:
    assert classify_tool(_tool("open_issue", "")).category is Category.WRITE
    assert classify_tool(_tool("openPullRequest", "")).category is Category.WRITE
    assert classify_tool(_tool("open_nodes", "Open specific nodes")).category is Category.READ
