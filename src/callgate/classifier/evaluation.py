"""Measuring the classifier against labelled tools. Pure: the rows come in, figures go out.

Shared by the tests that hold the classifier to its targets and by `bench/classifier_report.py`
(which prints the tables and writes docs/classifier.md), so both count the same way. Rows
labelled with `label_confidence: low` are left out of every score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callgate.classifier.classification import Category, Classification, Confidence, Flag
from callgate.classifier.engine import classify_tool

DANGEROUS = frozenset({Category.EXECUTE, Category.DESTRUCTIVE, Category.FINANCIAL})


@dataclass(frozen=True, slots=True)
class Labelled:
    """One tool definition with the category (and flags) a person gave it."""

    server: str
    tool: Mapping[str, Any]
    label: Category
    why: str = ""
    flags: frozenset[Flag] | None = None
    """None where the data set does not label flags fully."""
    confidence: str = "high"
    """How sure the labeller was; `low` rows are left out of scores."""

    @classmethod
    def from_row(
        cls,
        label: Mapping[str, Any],
        tool: Mapping[str, Any] | None = None,
        *,
        flags_labelled: bool,
    ) -> Labelled:
        """A label row (`server`, `category`, `why`, `flags`, `label_confidence`) for `tool`
        (the row itself when the tool's `name` and `description` are in it)."""
        flags = frozenset(Flag(flag) for flag in label.get("flags") or ())
        return cls(
            server=str(label.get("server", "")),
            tool=label if tool is None else tool,
            label=Category(label["category"]),
            why=str(label.get("why", "")),
            flags=flags if flags_labelled else None,
            confidence=str(label.get("label_confidence", "high")),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """One labelled tool and what the classifier made of it."""

    labelled: Labelled
    result: Classification

    @property
    def label(self) -> Category:
        """The person's category."""
        return self.labelled.label

    @property
    def server(self) -> str:
        """The server the tool came from."""
        return self.labelled.server

    @property
    def agrees(self) -> bool:
        """Whether the classifier's category is the label."""
        return self.result.category is self.label


@dataclass(frozen=True, slots=True)
class FlagScore:
    """Precision and recall of one flag where flags are labelled."""

    flag: Flag
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """Share of tools flagged that the label flags too (1.0 when none were flagged)."""
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        """Share of tools the label flags that were flagged (1.0 when the label flags none)."""
        labelled = self.true_positives + self.false_negatives
        return self.true_positives / labelled if labelled else 1.0


@dataclass(frozen=True, slots=True)
class Measurement:
    """Agreement figures over a set of outcomes."""

    outcomes: tuple[Outcome, ...]

    def __len__(self) -> int:
        return len(self.outcomes)

    @property
    def servers(self) -> tuple[str, ...]:
        """The servers measured, sorted."""
        return tuple(sorted({outcome.server for outcome in self.outcomes}))

    @property
    def agreement(self) -> float:
        """The share of tools whose category matches the label."""
        if not self.outcomes:
            return 0.0
        return sum(outcome.agrees for outcome in self.outcomes) / len(self.outcomes)

    def labelled(self, category: Category) -> int:
        """How many tools carry the label `category`."""
        return sum(outcome.label is category for outcome in self.outcomes)

    def recall(self, category: Category) -> float:
        """The share of tools labelled `category` that the classifier put there."""
        labelled = [outcome for outcome in self.outcomes if outcome.label is category]
        if not labelled:
            return 1.0
        return sum(outcome.agrees for outcome in labelled) / len(labelled)

    def precision(self, category: Category) -> float:
        """The share of tools classified `category` that carry that label."""
        predicted = [o for o in self.outcomes if o.result.category is category]
        if not predicted:
            return 1.0
        return sum(outcome.agrees for outcome in predicted) / len(predicted)

    def confusion(self) -> dict[Category, dict[Category, int]]:
        """Counts by label (rows) and classifier category (columns)."""
        matrix = {label: dict.fromkeys(Category, 0) for label in Category}
        for outcome in self.outcomes:
            matrix[outcome.label][outcome.result.category] += 1
        return matrix

    def disagreements(self) -> list[Outcome]:
        """The outcomes whose category differs from the label."""
        return [outcome for outcome in self.outcomes if not outcome.agrees]

    def dangerous(self) -> list[Outcome]:
        """Tools labelled execute, destructive or financial."""
        return [outcome for outcome in self.outcomes if outcome.label in DANGEROUS]

    @property
    def dangerous_caught(self) -> float:
        """The share of dangerous tools classified as any dangerous category."""
        dangerous = self.dangerous()
        if not dangerous:
            return 1.0
        return sum(o.result.category in DANGEROUS for o in dangerous) / len(dangerous)

    def dangerous_read_with_high_confidence(self) -> list[Outcome]:
        """Dangerous tools classified read with high confidence (the worst mistake)."""
        return [
            outcome
            for outcome in self.dangerous()
            if outcome.result.category is Category.READ
            and outcome.result.confidence is Confidence.HIGH
        ]

    def reads_called_dangerous(self) -> list[Outcome]:
        """Read tools classified dangerous: over-blocking, which costs users too."""
        return [
            outcome
            for outcome in self.outcomes
            if outcome.label is Category.READ and outcome.result.category in DANGEROUS
        ]

    @property
    def read_overblocking(self) -> float:
        """The share of read tools classified dangerous."""
        reads = self.labelled(Category.READ)
        return len(self.reads_called_dangerous()) / reads if reads else 0.0

    def flag_scores(self) -> list[FlagScore]:
        """Precision and recall per flag, over the tools whose flags are labelled."""
        scores = []
        labelled = [o for o in self.outcomes if o.labelled.flags is not None]
        for flag in Flag:
            tp = fp = fn = 0
            for outcome in labelled:
                said = flag in (outcome.labelled.flags or frozenset())
                found = outcome.result.has(flag)
                tp += said and found
                fp += found and not said
                fn += said and not found
            scores.append(FlagScore(flag, tp, fp, fn))
        return scores


def measure(rows: Iterable[Labelled]) -> Measurement:
    """Classify every labelled tool, leaving out low-confidence labels."""
    return Measurement(
        tuple(Outcome(row, classify_tool(row.tool)) for row in rows if row.confidence != "low")
    )
