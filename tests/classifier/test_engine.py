"""The classifier's reading of single tools, by the taxonomy's rules (docs/classifier.md).

The tools here are written for the tests, one per behaviour; how the classifier does on
real servers is measured in test_evaluation.py and bench/classifier_report.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from callgate.classifier import Category, Confidence, Flag, Severity, classify_tool
from callgate.classifier.classification import D, F, R, W, X


def _tool(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": description, **extra}


def _schema(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


STRING: dict[str, Any] = {"type": "string"}


def test_seed_clone_container_to_ecr_is_execute_high_with_low_confidence() -> None:
    result = classify_tool({"name": "CloneContainerToECR", "description": ""})

    assert result.category is X
    assert result.severity is Severity.HIGH
    assert result.confidence is Confidence.LOW
    assert "clones a container image" in result.decided_by
    assert "pushes it to a registry" in result.decided_by
    assert "rule 5" in result.decided_by
    assert any("only the name could be read" in doubt for doubt in result.doubts)


@pytest.mark.parametrize(
    ("name", "description", "category"),
    [
        # Topic is not effect (rule 1): reads on a billing platform are reads.
        ("list_invoices", "List invoices", R),
        ("get_subscription", "Retrieve a subscription", R),
        ("get_cost_and_usage", "Read costs and usage for the account", R),
        ("list_subscriptions", "List the SNS topic subscriptions", R),
        # ... and moving money is financial, whatever the verb.
        ("create_transaction", "Create a transaction that charges the customer", F),
        ("create_checkout_session", "Create a checkout session", F),
        ("place_order", "Place a market order to buy a stock", F),
        ("refund_payment", "Refund a captured payment", F),
        ("send_invoice", "Send an invoice to the customer for payment", F),
        ("create_payout", "Create a payout to a bank account", F),
        ("pause_subscription", "Pause a customer's subscription", F),
        # A notification subscription is not money (rule 1).
        ("create_subscription", "Subscribe a webhook to repository events", W),
        # Creating catalogue objects is write (rule 2).
        ("create_price", "Create a price for a product", W),
        ("create_product", "Create a product in the catalogue", W),
        ("create_coupon", "Create a coupon definition", W),
        ("create_payment_account", "Create a payment account for the user", W),
        # Provisioning billable infrastructure is write (rule 3); deleting it destructive.
        ("create_cache_cluster", "Create a cache cluster", W),
        ("delete_cache_cluster", "Delete a cache cluster", D),
        # Sending is execute (rule 4); a comment stays inside the system.
        ("send_email", "Send an email to a recipient", X),
        ("publish_message", "Publish a message to a topic", X),
        ("create_message", "Send a new SMS message to a phone number", X),
        ("invite_user", "Invite a user to the workspace by email", X),
        ("add_comment", "Add a comment to an issue", W),
        ("create_draft", "Create a draft email", W),
        # Deploying is execute (rule 5); a plain create is write.
        ("deploy_app", "Deploy the application", X),
        ("apply_manifest", "Apply a Kubernetes manifest to the cluster", X),
        ("push_image", "Push an image to the container registry", X),
        ("install_helm_chart", "Install a Helm chart", X),
        ("create_deployment_record", "Create a record of a deployment", W),
        # Creating a build or a run starts the work; its configuration is only data.
        ("create_build", "Create a new build from a source tarball", X),
        ("create_build_config", "Create a build configuration", W),
        ("create_release", "Create a new release in a repository", X),
        ("create_prediction", "Create a prediction for a model version", X),
        ("create_service", "Create a service from a repository and deploy it", X),
        ("set_variable", "Set a variable on a service; this triggers a redeploy", X),
        ("tags", "Manage tags. Tag several resources, then deploy them with one call", W),
        ("sync_app", "Sync an application to the revision in its git repository", X),
        ("sync_files", "Sync files between two folders", W),
        ("issue_credit", "Issue a credit to a client", F),
        ("finalize_invoice", "Finalize a draft invoice so it can be paid", F),
        ("cancel_order", "Cancel an open order for an instrument", F),
        ("amend_order", "Amend the quantity of an open stock order", F),
        ("rebuild_server", "Rebuild a server from an image", D),
        ("rebuild_service", "Rebuild and redeploy the service", X),
        # Rule 4 said of the people reached; a denial is not a send.
        ("create_application", "Create an application. The applicant will receive an email.", X),
        ("create_user", "Create a user account. No invitation email is sent.", W),
        ("create_release_note", "Create a release note", W),
        ("complete_database_migration", "Complete a migration: apply it to main", X),
        # Rule 11 by the object's head: a scheduled job is a job, not a scheduled send.
        ("cancel_scheduled_job", "Cancel a scheduled job", W),
        # A service contract is an agreement, not a smart contract on a chain.
        ("create_agreement", "Create a new agreement (managed service contract)", W),
        # Rule 8: a query tool constrained to SELECT reads.
        ("pg_execute_query", "Execute SELECT queries and data retrieval operations", R),
        ("remove_tag", "Remove a tag from a ticket", W),
        ("delete_tag", "Delete a tag", D),
        ("cleanup_candidates", "Suggest which artifacts could be deleted", R),
        ("debug_database", "Debug common database issues", R),
        # An idempotent case explained is not a read-only claim.
        (
            "add_tag",
            "Add a tag. Idempotent: adding an existing tag returns the list without modifying it.",
            W,
        ),
        # Previews, plans and generators are reads (rule 6); generating into a file writes.
        ("preview_invoice", "Preview the next invoice", R),
        ("terraform_plan", "Show the changes terraform would make", R),
        ("generate_dockerfile", "Generate a Dockerfile and return it", R),
        ("run_audit", "Run an accessibility audit of the page", R),
        # Driving a browser or a device is execute (rule 7).
        ("browser_navigate", "Navigate to a URL in the browser", X),
        ("browser_click", "Click an element on the page", X),
        ("tap", "Tap the screen of the device at coordinates", X),
        ("browser_take_screenshot", "Take a screenshot of the page", R),
        # Queries (rule 8).
        ("read_query", "Execute a read-only SELECT query", R),
        ("run_sql", "Run any SQL statement against the database", X),
        ("write_query", "Execute an INSERT, UPDATE or DELETE query", D),
        ("run_funnel_query", "Run a funnel query over analytics events", R),
        # Cancelling a running job is write (rule 11); an agreement, destructive.
        ("cancel_job", "Cancel a running job", W),
        ("cancel_booking", "Cancel a hotel booking", D),
        ("cancel_subscription", "Cancel a customer's subscription", D),
        # Plain verbs.
        ("delete_file", "Delete a file", D),
        ("revoke_token", "Revoke an API token", D),
        ("update_record", "Update a record", W),
        ("get_user", "Get a user by id", R),
        ("execute_command", "Execute a shell command", X),
        ("trigger_workflow", "Trigger a workflow run", X),
    ],
)
def test_the_effect_of_one_call_decides_the_category(
    name: str, description: str, category: Category
) -> None:
    result = classify_tool(_tool(name, description))

    assert result.category is category, result.reasons


def test_the_deciding_rule_is_given_by_number() -> None:
    assert classify_tool(_tool("browser_click", "Click an element on the page")).rule == 7
    assert classify_tool(_tool("send_email", "Send an email")).rule == 4
    assert classify_tool(_tool("get_user", "Get a user")).rule is None


def test_destructive_hint_on_an_ordinary_update_stays_write() -> None:
    result = classify_tool(
        _tool(
            "update_issue",
            "Update an issue's title and labels",
            annotations={"readOnlyHint": False, "destructiveHint": True},
        )
    )

    assert result.category is W
    assert any("stays write (rule 9)" in doubt for doubt in result.doubts)


def test_read_only_hint_makes_a_verbless_tool_read_but_never_hides_a_send() -> None:
    tree = classify_tool(_tool("directory_tree", "", annotations={"readOnlyHint": True}))
    mail = classify_tool(_tool("send_email", "Send an email", annotations={"readOnlyHint": True}))

    assert tree.category is R
    assert mail.category is X
    assert mail.confidence is not Confidence.HIGH


def test_the_most_dangerous_operation_of_an_enum_wins_and_the_others_are_named() -> None:
    result = classify_tool(
        _tool(
            "manage_files",
            "Manage files",
            inputSchema=_schema(
                action={"type": "string", "enum": ["list", "read", "write", "delete"]}
            ),
        )
    )

    assert result.category is D
    assert "'delete'" in result.decided_by
    assert "also list, read, write" in result.decided_by


def test_a_list_of_verbs_in_the_description_counts_each_verb() -> None:
    result = classify_tool(
        _tool("cluster_management", "Manage clusters: list, describe, create and delete them")
    )

    assert result.category is D


def test_a_templated_description_lowers_confidence_and_its_operation_name_is_read() -> None:
    plain = classify_tool(_tool("API-delete-user", "Delete a user"))
    templated = classify_tool(_tool("API-delete-user", "Execute the deleteUser operation"))

    assert templated.category is D
    assert templated.score < plain.score
    assert any("rule 10" in doubt for doubt in templated.doubts)


def test_a_command_parameter_makes_a_tool_execute_and_critical() -> None:
    result = classify_tool(
        _tool("terminal_session", "Opens a session", inputSchema=_schema(command=STRING))
    )

    assert result.category is X
    assert result.has(Flag.CODE_EXECUTION)
    assert result.severity is Severity.CRITICAL


def test_a_save_path_makes_a_download_a_write() -> None:
    result = classify_tool(
        _tool("download_report", "Download a report", inputSchema=_schema(savePath=STRING))
    )

    assert result.category is W
    assert "rule 6" in result.decided_by


def test_an_http_method_enum_with_delete_on_a_url_tool_is_destructive() -> None:
    result = classify_tool(
        _tool(
            "api_request",
            "Make an HTTP request to the service's API",
            inputSchema=_schema(
                method={"type": "string", "enum": ["GET", "POST", "DELETE"]}, path=STRING
            ),
        )
    )

    assert result.category is D
    assert "generic API call" in result.decided_by


def test_a_verb_that_is_often_a_noun_yields_to_a_reading_description() -> None:
    result = classify_tool(_tool("pipelines_build", "Retrieve build data for a project"))

    assert result.category is R
    assert any("may be a noun" in doubt for doubt in result.doubts)


@pytest.mark.parametrize(
    ("tool", "flags"),
    [
        (_tool("send_email", "Send an email"), {Flag.EXTERNAL_COMMS}),
        (_tool("create_access_key", "Create an access key for a user"), {Flag.CREDENTIALS}),
        (_tool("list_customers", "List customers"), {Flag.PERSONAL_DATA}),
        (_tool("delete_pod", "Delete a Kubernetes pod"), {Flag.INFRASTRUCTURE}),
        (_tool("run_script", "Run a Python script"), {Flag.CODE_EXECUTION}),
        (_tool("delete_all_files", "Delete all files in a folder"), {Flag.BULK}),
        (
            _tool("fetch", "Fetch a web page", inputSchema=_schema(url=STRING)),
            {Flag.OPEN_WORLD, Flag.EXTERNAL_COMMS},
        ),
        (_tool("list_invoices", "List invoices"), {Flag.MONEY}),
    ],
)
def test_flags_say_what_a_tool_touches(tool: dict[str, Any], flags: set[Flag]) -> None:
    result = classify_tool(tool)

    assert flags <= set(result.flags), result.flag_reasons
    assert {flag for flag, _ in result.flag_reasons} == set(result.flags)


def test_a_read_of_money_stays_read_with_the_money_flag() -> None:
    result = classify_tool(_tool("get_balance", "Retrieve the account balance"))

    assert result.category is R
    assert result.has(Flag.MONEY)


def test_severity_moves_with_flags() -> None:
    one = classify_tool(_tool("delete_file", "Delete a file"))
    bulk_write = classify_tool(_tool("update_all_records", "Update all records at once"))
    secrets = classify_tool(_tool("get_secret", "Read a secret value"))
    idempotent = classify_tool(
        _tool("set_label", "Set a label on a record", annotations={"idempotentHint": True})
    )

    assert one.severity is Severity.CRITICAL
    assert bulk_write.severity is Severity.HIGH
    assert secrets.severity is Severity.MEDIUM
    assert idempotent.severity is Severity.LOW
    assert all(result.severity_reasons for result in (bulk_write, secrets, idempotent))


def test_confidence_falls_with_an_empty_description_and_conflicting_evidence() -> None:
    clear = classify_tool(_tool("delete_file", "Delete a file from the disk"))
    bare = classify_tool(_tool("delete_file", ""))
    unknown = classify_tool(_tool("frobnicate_widget", "Frobnicates the widget"))

    assert clear.confidence is Confidence.HIGH
    assert bare.confidence is Confidence.LOW
    assert unknown.category is W
    assert unknown.confidence is Confidence.LOW
    assert any("assumed to change something" in doubt for doubt in unknown.doubts)


@pytest.mark.parametrize(
    "tool",
    [
        {},
        {"name": None, "description": 7},
        {"name": "x", "inputSchema": "not a schema", "annotations": ["nope"]},
        {"name": "x", "inputSchema": {"properties": [1, 2]}},
        {"name": "x", "inputSchema": {"properties": {"a": None, "b": {"enum": 5}}}},
        {"name": "delete_everything", "description": "Deletes. " * 150_000},
        {"name": "\u202e\u0000 weird \U000e0041", "description": "\x00"},
    ],
)
def test_malformed_definitions_are_classified_not_crashed(tool: Any) -> None:
    result = classify_tool(tool)

    assert result.category in Category
    assert 0.0 <= result.score <= 1.0
    json.dumps(result.to_dict())


def test_a_list_that_is_not_a_tool_is_classified_with_low_confidence() -> None:
    result = classify_tool([1, 2, 3])  # type: ignore[arg-type]

    assert result.category is W
    assert result.confidence is Confidence.LOW


def test_classification_serialises_every_field() -> None:
    result = classify_tool(_tool("delete_branch", "Remove an existing branch"))

    assert result.to_dict() == {
        "name": "delete_branch",
        "category": "destructive",
        "severity": "critical",
        "confidence": result.confidence.value,
        "score": result.score,
        "flags": [flag.value for flag in result.flags],
        "decided_by": result.decided_by,
        "reasons": list(result.reasons),
        "doubts": list(result.doubts),
        "flag_reasons": {flag.value: why for flag, why in result.flag_reasons},
        "severity_reasons": list(result.severity_reasons),
        "rule": result.rule,
    }
    assert result.to_meta() == {
        "category": "destructive",
        "severity": "critical",
        "confidence": result.confidence.value,
        "flags": [flag.value for flag in result.flags],
    }


_DETERMINISM = """
import json, sys
from callgate.classifier import classify_tool
tools = json.load(sys.stdin)
print(json.dumps([classify_tool(t).to_dict() for t in tools], sort_keys=True))
"""


def test_output_is_byte_identical_across_processes_and_hash_seeds() -> None:
    tools = [
        _tool("manage_files", "Manage files: list, create and delete them"),
        _tool("send_invoice", "Send an invoice", inputSchema=_schema(amount=STRING, to=STRING)),
        _tool("browser_click", "Click", annotations={"openWorldHint": True}),
        _tool("create_access_key", "Create an access key"),
    ]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", _DETERMINISM],
            input=json.dumps(tools),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("0", "1", "12345")
    }

    assert len(outputs) == 1


def _with_flag(name: str, description: str, flag: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"id": {"type": "string"}, flag: {"type": "boolean"}}}
    return _tool(name, description, inputSchema=schema)


@pytest.mark.parametrize(
    ("tool", "category"),
    [
        # A force flag on a write overwrites what is there: destructive.
        (_with_flag("create_device", "Register a new device identity", "overwrite"), D),
        (_with_flag("import_table_data", "Import rows from a file", "truncateFirst"), D),
        # On a tool that runs or drives something it says nothing more.
        (_with_flag("open_app", "Open an app on the device", "force"), X),
        (_with_flag("get_device", "Get a device", "force"), R),
    ],
)
def test_a_force_flag_raises_a_write_and_nothing_else(
    tool: dict[str, Any], category: Category
) -> None:
    assert classify_tool(tool).category is category
