"""What every recommendation must do, checked as a user would: the snippets saved as files,
then the library functions behind `callgate validate` and `callgate test`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from callgate.catalogue.card import Snippets
from callgate.catalogue.recommend import Recommendation
from callgate.classifier import Category, Classification, Confidence, Flag
from callgate.classifier.classification import BASE_SEVERITY
from callgate.policy.compiler import load_compiled_policy
from callgate.policy.testing import run_test_file


def verdict(name: str, category: Category, *flags: Flag, **extra: Any) -> Classification:
    """A classification as the classifier could give it, built by hand."""
    return Classification(
        name=name,
        category=category,
        severity=BASE_SEVERITY[category],
        confidence=Confidence.MEDIUM,
        score=0.6,
        reasons=("first evidence", "second evidence"),
        flags=tuple(sorted(flags)),
        **extra,
    )


def _safe_load(text: str) -> Any:
    return YAML(typ="safe").load(text)


def _run_cases(path: Path, policy: str, cases: list[dict[str, Any]]) -> None:
    """`policy` validates as a file, and each case holds against it."""
    policy_file = path.with_suffix(".yaml")
    policy_file.write_text(policy, encoding="utf-8")
    load_compiled_policy(policy_file)
    tests = path.with_suffix(".test.yaml")
    document = {"policy": policy_file.name, "cases": cases}
    with tests.open("w", encoding="utf-8") as out:
        YAML(typ="safe").dump(document, out)
    result = run_test_file(tests)
    failures = [(case.name, case.problems) for case in result.cases if not case.passed]
    assert not failures, failures
    assert result.passed == len(cases) > 0


def assert_recommendation_holds(recommendation: Recommendation, directory: Path) -> None:
    """Every snippet validates, every case passes, and each rule has a case that fires it."""
    snippets = Snippets.of(recommendation)
    stem = "".join(c if c.isalnum() else "_" for c in recommendation.tool)[:40] or "tool"
    directory.mkdir(parents=True, exist_ok=True)

    # The recommended rule: its own test file, policy inline, exactly as the card shows it.
    policy_file = directory / f"{stem}.yaml"
    policy_file.write_text(snippets.policy, encoding="utf-8")
    load_compiled_policy(policy_file)
    tests_file = directory / f"{stem}.test.yaml"
    tests_file.write_text(snippets.tests, encoding="utf-8")
    result = run_test_file(tests_file)
    failures = [(case.name, case.problems) for case in result.cases if not case.passed]
    assert not failures, failures
    fired = {case["rule"] for case in recommendation.cases if "rule" in case}
    assert fired == {rule.name for rule in recommendation.rules}

    # The name round-trips through every text.
    assert list(_safe_load(snippets.policy)["tools"]) == [recommendation.tool]
    assert list(_safe_load(snippets.deny)["tools"]) == [recommendation.tool]
    _run_cases(directory / f"{stem}-deny", snippets.deny, [recommendation.deny_case()])
    if snippets.hide is not None:
        assert _safe_load(snippets.hide) == {"hide": [recommendation.tool]}
        _run_cases(
            directory / f"{stem}-hide",
            'version: "1"\n' + snippets.hide,
            [recommendation.hide_case()],
        )
