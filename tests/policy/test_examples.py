"""The golden examples: every policy validates (strictly) and passes its own test file."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.policy.compiler import load_compiled_policy
from callgate.policy.lint import lint_policy
from callgate.policy.testing import run_test_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEST_FILES = sorted(EXAMPLES.rglob("*.test.yaml"))
POLICIES = sorted(p for p in EXAMPLES.rglob("*.yaml") if not p.name.endswith(".test.yaml"))


def test_examples_exist() -> None:
    names = {p.relative_to(EXAMPLES).as_posix() for p in POLICIES}
    assert {"github.yaml", "stripe.yaml", "filesystem.yaml"} <= names
    assert any(name.startswith("intercept/") for name in names)
    assert len(TEST_FILES) >= 6


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_example_policy_is_valid_and_strict_clean(policy: Path) -> None:
    compiled = load_compiled_policy(policy)
    assert [issue.render() for issue in lint_policy(compiled)] == []


@pytest.mark.parametrize("tests", TEST_FILES, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_example_policy_passes_its_test_file(tests: Path) -> None:
    result = run_test_file(tests)
    failures = [(case.name, case.problems) for case in result.cases if not case.passed]
    assert failures == []
    assert result.passed == len(result.cases) > 0
