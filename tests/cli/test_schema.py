"""`callgate schema`: the JSON Schema exported from the models describes real policies."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from callgate.cli.main import main
from callgate.policy.loader import parse_yaml
from callgate.policy.schema import export_json_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    return export_json_schema()


def test_schema_command_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["title"] == "callgate policy"
    assert {"version", "tools", "categories", "approvals", "agents", "fail_mode"} <= set(
        printed["properties"]
    )
    jsonschema.Draft202012Validator.check_schema(printed)


@pytest.mark.parametrize(
    "policy",
    sorted(p for p in EXAMPLES.rglob("*.yaml") if not p.name.endswith(".test.yaml")),
    ids=lambda p: p.name,
)
def test_every_example_conforms_to_the_schema(policy: Path, schema: dict[str, object]) -> None:
    data, _ = parse_yaml(policy.read_text())
    jsonschema.validate(data, schema)


def test_schema_rejects_an_unknown_key(schema: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "tolls": {}}, schema)


def test_schema_knows_flag_entries_and_annotate_tools(schema: dict[str, object]) -> None:
    policy = {
        "version": "1",
        "annotate_tools": True,
        "tools": {"rotate_key": {"flags": ["credentials"]}},
        "flags": {"credentials": {"rules": [{"name": "ask", "action": "require_approval"}]}},
    }
    jsonschema.validate(policy, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "flags": {"credentials_": {}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "tools": {"x": {"flags": ["secret"]}}}, schema)
