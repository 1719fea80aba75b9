"""`results:` in the policy: validated with positions, resolved field by field by entry
precedence, exported in the JSON Schema, shown by `explain`."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from callgate.errors import PolicyError
from callgate.policy.compiler import load_compiled_policy
from callgate.policy.decision import Facts, ToolCall
from callgate.policy.explain import explain
from callgate.policy.schema import export_json_schema
from callgate.results import InjectionAction, ResultRules
from tests.policy.support import compile_text

POLICY = """\
version: "1"
results: {flag_injection: true}
tools:
  read_file:
    results: {redact_secrets: true, on_injection: wrap}
  "fetch_*":
    results: {on_injection: withhold}
  echo:
    results: {flag_injection: false}
categories:
  execute:
    results: {redact_secrets: true}
flags:
  credentials:
    results: {redact_secrets: true, on_injection: wrap}
"""


def test_each_field_comes_from_the_most_specific_entry_that_sets_it() -> None:
    policy = compile_text(POLICY)
    assert policy.guards_results
    wrap, withhold = InjectionAction.WRAP, InjectionAction.WITHHOLD
    assert policy.result_rules("read_file", None) == ResultRules(True, True, wrap)
    assert policy.result_rules("fetch_page", None) == ResultRules(False, True, withhold)
    # The tool entry says what, the category adds secrets, the top level the rest.
    assert policy.result_rules("fetch_page", "execute") == ResultRules(True, True, withhold)
    assert policy.result_rules("run", "execute", ()) == ResultRules(True, True)
    assert policy.result_rules("rotate", "write", ("credentials",)) == ResultRules(True, True, wrap)
    assert policy.result_rules("other", "read") == ResultRules(False, True)
    # Turned off for one tool: nothing left to read.
    assert policy.result_rules("echo", None) is None


def test_a_policy_without_results_reads_no_result() -> None:
    policy = compile_text('version: "1"\ntools:\n  read_file:\n    validate_arguments: true\n')
    assert not policy.guards_results
    assert policy.result_rules("read_file", None) is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            'version: "1"\nresults: {on_injection: block}\n',
            "2:11: results.on_injection: must be flag, wrap or withhold, got 'block'",
        ),
        (
            'version: "1"\ntools:\n  a:\n    results: {redact: true}\n',
            "4:15: tools.a.results.redact: unknown key 'redact'",
        ),
        (
            'version: "1"\ncategories:\n  read:\n    results: {redact_secrets: maybe}\n',
            "4:15: categories.read.results.redact_secrets: Input should be a valid boolean",
        ),
    ],
)
def test_a_wrong_results_block_is_a_positioned_error(text: str, where: str, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_compiled_policy(path)
    rendered = [issue.render() for issue in caught.value.issues]
    assert any(where in line for line in rendered), rendered


def test_the_json_schema_knows_results() -> None:
    schema = export_json_schema()
    good = {
        "version": "1",
        "results": {"redact_secrets": True},
        "tools": {"t": {"results": {"flag_injection": True, "on_injection": "wrap"}}},
        "categories": {"read": {"results": {"on_injection": "withhold"}}},
        "flags": {"credentials": {"results": {"redact_secrets": False}}},
    }
    jsonschema.validate(good, schema)
    for bad in (
        {"version": "1", "results": {"on_injection": "block"}},
        {"version": "1", "results": {"redact": True}},
        {"version": "1", "tools": {"t": {"results": {"flag_injection": "yes"}}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_explain_says_what_the_result_guard_does() -> None:
    policy = compile_text(POLICY)

    def last(tool: str) -> str:
        steps = explain(policy, ToolCall("s", tool, {}), Facts(now=0.0)).steps
        return [step.text for step in steps if step.text.startswith("results:")][-1]

    assert last("read_file") == (
        "results: secrets replaced with [REDACTED:<kind>]; instructions aimed at the model "
        "looked for (on_injection: wrap)"
    )
    assert last("echo") == "results: not read (no results: block asks for this tool)"
    plain = compile_text('version: "1"\n')
    steps = explain(plain, ToolCall("s", "echo", {}), Facts(now=0.0)).steps
    assert not any(step.text.startswith("results:") for step in steps)
