"""What the classifier says about one tool: category, severity, confidence and reasons."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """The risk category of a tool, from least to most dangerous."""

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    DESTRUCTIVE = "destructive"
    FINANCIAL = "financial"

    @property
    def rank(self) -> int:
        """Position in the danger order: when signals disagree, the higher rank wins."""
        return _RANK[self]


# Financial ranks above destructive: cancelling a subscription or deleting an invoice is
# first of all a money matter, and approval is required for both anyway.
_RANK = {
    Category.READ: 0,
    Category.WRITE: 1,
    Category.EXECUTE: 2,
    Category.DESTRUCTIVE: 3,
    Category.FINANCIAL: 4,
}


class Severity(StrEnum):
    """How much harm a call to the tool can do."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    def raised(self) -> Severity:
        """One step more severe (critical stays critical)."""
        return _RAISED[self]


_RAISED = {
    Severity.LOW: Severity.MEDIUM,
    Severity.MEDIUM: Severity.HIGH,
    Severity.HIGH: Severity.CRITICAL,
    Severity.CRITICAL: Severity.CRITICAL,
}

BASE_SEVERITY = {
    Category.READ: Severity.LOW,
    Category.WRITE: Severity.MEDIUM,
    Category.EXECUTE: Severity.HIGH,
    Category.DESTRUCTIVE: Severity.CRITICAL,
    Category.FINANCIAL: Severity.CRITICAL,
}


class Confidence(StrEnum):
    """How sure the classifier is of the category."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @classmethod
    def from_score(cls, score: float) -> Confidence:
        """High from 0.75, medium from 0.5, low below."""
        if score >= 0.75:
            return cls.HIGH
        if score >= 0.5:
            return cls.MEDIUM
        return cls.LOW


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's verdict on one tool, with every reason that counted."""

    name: str
    category: Category
    severity: Severity
    confidence: Confidence
    score: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by `callgate classify --format json`."""
        return {
            "name": self.name,
            "category": self.category.value,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "score": self.score,
            "reasons": list(self.reasons),
        }
