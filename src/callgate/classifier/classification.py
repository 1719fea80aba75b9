"""What the classifier says about one tool: category, flags, severity, confidence and why.

The meaning of every value is the contract in the project's taxonomy (docs/classifier.md):
the category is the worst *effect* of one call, the flags say what the tool touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """The risk category of a tool: the worst effect of one call."""

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    DESTRUCTIVE = "destructive"
    FINANCIAL = "financial"

    @property
    def rank(self) -> int:
        """Position in the danger order: when signals disagree, the higher rank wins."""
        return _RANK[self]

    @property
    def dangerous(self) -> bool:
        """Execute, destructive and financial: the categories a policy should guard."""
        return _RANK[self] >= _RANK[Category.EXECUTE]


# Destructive and financial are equally dangerous (TAXONOMY: "financial and destructive >
# execute"); financial sorts above so that a tool doing both shows its money side first
# unless its description stresses the destruction (rule 12, decided in the engine).
_RANK = {
    Category.READ: 0,
    Category.WRITE: 1,
    Category.EXECUTE: 2,
    Category.DESTRUCTIVE: 3,
    Category.FINANCIAL: 4,
}

# Short names for the classifier's rule tables (effects, evidence, verdict).
R, W, X, D, F = (
    Category.READ,
    Category.WRITE,
    Category.EXECUTE,
    Category.DESTRUCTIVE,
    Category.FINANCIAL,
)


class Flag(StrEnum):
    """What a tool touches, whatever its effect (a read of secrets still touches secrets)."""

    MONEY = "money"
    CREDENTIALS = "credentials"
    PERSONAL_DATA = "personal_data"
    INFRASTRUCTURE = "infrastructure"
    CODE_EXECUTION = "code_execution"
    EXTERNAL_COMMS = "external_comms"
    BULK = "bulk"
    OPEN_WORLD = "open_world"


class Severity(StrEnum):
    """How much harm a call to the tool can do."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for critical."""
        return _SEVERITY_ORDER.index(self)

    def raised(self) -> Severity:
        """One step more severe (critical stays critical)."""
        return _SEVERITY_ORDER[min(self.rank + 1, len(_SEVERITY_ORDER) - 1)]

    def lowered(self) -> Severity:
        """One step less severe (low stays low)."""
        return _SEVERITY_ORDER[max(self.rank - 1, 0)]


_SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)

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
    """The classifier's verdict on one tool, with every reason that counted.

    `decided_by` is one sentence naming the evidence and the taxonomy rule that set the
    category; `reasons` lists all evidence read (the deciding reason first); `doubts` says
    what lowered the confidence; `flags` are sorted, each explained in `flag_reasons`;
    `severity_reasons` says what moved the severity off its category's base.
    """

    name: str
    category: Category
    severity: Severity
    confidence: Confidence
    score: float
    reasons: tuple[str, ...]
    flags: tuple[Flag, ...] = ()
    decided_by: str = ""
    doubts: tuple[str, ...] = ()
    flag_reasons: tuple[tuple[Flag, str], ...] = ()
    severity_reasons: tuple[str, ...] = ()
    rule: int | None = None
    """The number of the taxonomy's borderline decision that set the category, if one did
    (7: it drives a browser or a device; docs/classifier.md lists them)."""

    def has(self, flag: Flag) -> bool:
        """Whether the tool touches what `flag` names."""
        return flag in self.flags

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by `callgate classify --format json`."""
        return {
            "name": self.name,
            "category": self.category.value,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "score": self.score,
            "flags": [flag.value for flag in self.flags],
            "decided_by": self.decided_by,
            "reasons": list(self.reasons),
            "doubts": list(self.doubts),
            "flag_reasons": {flag.value: why for flag, why in self.flag_reasons},
            "severity_reasons": list(self.severity_reasons),
            "rule": self.rule,
        }

    def to_meta(self) -> dict[str, Any]:
        """The compact form callgate puts in a listed tool's `_meta` (`callgate/risk`)."""
        return {
            "category": self.category.value,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "flags": [flag.value for flag in self.flags],
        }
