"""Measuring the classifier against labelled tools: agreement, recall, confusion matrix.

Shared by the test that holds the classifier to its targets and by the script that writes
`docs/classifier.md`, so both count the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callgate.classifier.classification import Category, Classification, Confidence
from callgate.classifier.engine import classify_tool

# One server in this many is held out: the rules were written looking at the others.
HOLDOUT_EVERY = 4


@dataclass(frozen=True, slots=True)
class Outcome:
    """One labelled tool and what the classifier made of it."""

    server: str
    label: Category
    result: Classification

    @property
    def agrees(self) -> bool:
        """Whether the classifier's category is the label."""
        return self.result.category is self.label


@dataclass(frozen=True, slots=True)
class Measurement:
    """Agreement figures over a set of outcomes."""

    outcomes: tuple[Outcome, ...]

    @property
    def agreement(self) -> float:
        """The share of tools whose category matches the label."""
        if not self.outcomes:
            return 0.0
        return sum(outcome.agrees for outcome in self.outcomes) / len(self.outcomes)

    def recall(self, category: Category) -> float:
        """The share of tools labelled `category` that the classifier put there."""
        labelled = [outcome for outcome in self.outcomes if outcome.label is category]
        if not labelled:
            return 1.0
        return sum(outcome.agrees for outcome in labelled) / len(labelled)

    def confusion(self) -> dict[Category, dict[Category, int]]:
        """Counts by label (rows) and classifier category (columns)."""
        matrix = {label: dict.fromkeys(Category, 0) for label in Category}
        for outcome in self.outcomes:
            matrix[outcome.label][outcome.result.category] += 1
        return matrix

    def disagreements(self) -> list[Outcome]:
        """The outcomes whose category differs from the label."""
        return [outcome for outcome in self.outcomes if not outcome.agrees]

    def dangerous_read_with_high_confidence(self) -> list[Outcome]:
        """Destructive, financial or execute tools classified read with high confidence."""
        dangerous = (Category.DESTRUCTIVE, Category.FINANCIAL, Category.EXECUTE)
        return [
            outcome
            for outcome in self.outcomes
            if outcome.label in dangerous
            and outcome.result.category is Category.READ
            and outcome.result.confidence is Confidence.HIGH
        ]


def is_held_out(server: str) -> bool:
    """Whether a server belongs to the held-out part (a stable hash of its name)."""
    return zlib.crc32(server.encode()) % HOLDOUT_EVERY == 0


def measure(rows: Iterable[Mapping[str, Any]]) -> Measurement:
    """Classify labelled rows (`server`, `name`, `description`, `category`, ...)."""
    return Measurement(
        tuple(
            Outcome(str(row.get("server", "")), Category(row["category"]), classify_tool(row))
            for row in rows
        )
    )
