"""Measuring the classifier against labelled tools: the targets of issue 5 on the dev set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callgate.classifier import Category
from callgate.classifier.evaluation import is_held_out, measure

DEV_SET = Path(__file__).parent / "data" / "tool-risk-dev.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]


def test_agreement_with_labels_is_at_least_97_percent(rows: list[dict[str, Any]]) -> None:
    assert measure(rows).agreement >= 0.97


@pytest.mark.parametrize("category", [Category.DESTRUCTIVE, Category.FINANCIAL])
def test_recall_of_critical_categories_is_at_least_98_percent(
    rows: list[dict[str, Any]], category: Category
) -> None:
    assert measure(rows).recall(category) >= 0.98


def test_no_dangerous_tool_is_read_with_high_confidence(rows: list[dict[str, Any]]) -> None:
    assert measure(rows).dangerous_read_with_high_confidence() == []


def test_held_out_servers_agree_at_least_95_percent(rows: list[dict[str, Any]]) -> None:
    held_out = [row for row in rows if is_held_out(row["server"])]

    assert held_out
    assert measure(held_out).agreement >= 0.95


OTHER_SERVERS = Path(__file__).with_name("other_servers.jsonl")


def test_hand_labelled_tools_from_other_servers_mostly_agree() -> None:
    # Tools from servers outside the dev set (Playwright, Kubernetes, Postgres, Stripe,
    # terminals, ...), labelled by hand the way PolicyLayer labels; see docs/classifier.md.
    rows = [json.loads(line) for line in OTHER_SERVERS.read_text().splitlines() if line]
    measured = measure(rows)

    assert measured.agreement >= 0.9
    assert measured.dangerous_read_with_high_confidence() == []
