"""The policy's `audit:` block: what the audit log keeps of arguments, validated and exported."""

from __future__ import annotations

import textwrap

import jsonschema
import pytest

from callgate.audit.redaction import ArgumentsMode
from callgate.errors import PolicyError
from callgate.policy.compiler import load_compiled_policy
from callgate.policy.schema import export_json_schema


def test_arguments_are_redacted_unless_the_policy_says_otherwise() -> None:
    default = load_compiled_policy('version: "1"\n')
    assert default.audit_recording.mode is ArgumentsMode.REDACTED
    hashed = load_compiled_policy('version: "1"\naudit: {arguments: hash}\n')
    assert hashed.audit_recording.mode is ArgumentsMode.HASH


def test_redact_keys_add_to_the_built_in_names() -> None:
    policy = load_compiled_policy(
        textwrap.dedent(
            """\
            version: "1"
            audit:
              arguments: redacted
              redact_keys: [ssn, card_number]
            """
        )
    )
    redacted, paths = policy.audit_recording.redactor.redact(
        {"ssn": "078-05-1120", "cardNumber": "x", "password": "y", "city": "Oslo"}
    )
    assert paths == ["/ssn", "/cardNumber", "/password"]
    assert redacted["city"] == "Oslo"


def test_a_wrong_mode_is_an_error_with_its_position_and_the_choices() -> None:
    with pytest.raises(PolicyError) as caught:
        load_compiled_policy(
            'version: "1"\naudit:\n  arguments: everything\n  redact_keys: ["-"]\n'
        )
    rendered = [issue.render() for issue in caught.value.issues]
    assert rendered[0].startswith(
        "<policy>:3:3: audit.arguments: must be hash, redacted or full, got 'everything'"
    )
    assert rendered[1].startswith("<policy>:4:3: audit.redact_keys: redact_keys[0]: '-' names")


def test_the_exported_schema_knows_the_audit_block() -> None:
    schema = export_json_schema()
    jsonschema.validate({"version": "1", "audit": {"arguments": "full"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "audit": {"arguments": "all"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "audit": {"results": "full"}}, schema)
