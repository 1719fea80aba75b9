"""Classifying one MCP tool definition by the effect of one call. Pure and deterministic.

The name's verb done to its objects is the main reading (`send_invoice` asks for money,
`list_invoices` reads); the description, the input schema and the server's annotations
confirm, refine, raise or bound it (`callgate.classifier.verdict`); the flags say what the
tool touches (`callgate.classifier.flags`). Every piece of evidence becomes a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callgate.classifier.classification import Category, Classification, Confidence, Flag
from callgate.classifier.evidence import (
    Evidence,
    read_annotations,
    read_description,
    read_name,
    read_schema,
)
from callgate.classifier.flags import detect_flags
from callgate.classifier.reading import ToolText
from callgate.classifier.verdict import choose, severity_of


def classify_tool(tool: Mapping[str, Any]) -> Classification:
    """Classify one MCP tool definition (`name`, `description`, `inputSchema`, `annotations`)."""
    text = ToolText(tool if isinstance(tool, Mapping) else {})
    evidence = [
        *read_name(text),
        *read_description(text),
        *read_schema(text),
        *read_annotations(text),
    ]
    templated = text.templated is not None
    verdict = choose(evidence, described=bool(text.description), templated=templated)
    category = verdict.category
    decided = verdict.decided_by
    runs_code = category is Category.EXECUTE and decided is not None and decided.runs_code
    sends = category is Category.EXECUTE and decided is not None and decided.rule == 4
    flag_reasons = detect_flags(text, category, runs_code, sends)
    flags = frozenset(flag for flag, _ in flag_reasons)
    severity, severity_reasons = severity_of(
        category, flags, text.annotations.get("idempotentHint") is True
    )
    decided_text = (
        f"{category.value}: {decided.cited}"
        if decided is not None
        else "write: nothing says it only reads, so it is assumed to change something"
    )
    reasons = _reasons(decided, evidence, verdict.doubts)
    if not text.schema_is_object and "inputSchema" in tool:
        verdict.doubts.append("the input schema is not an object")
    return Classification(
        name=text.name,
        category=category,
        severity=severity,
        confidence=Confidence.from_score(verdict.score),
        score=verdict.score,
        reasons=reasons,
        flags=tuple(flag for flag in Flag if flag in flags),
        decided_by=decided_text,
        doubts=tuple(verdict.doubts),
        flag_reasons=flag_reasons,
        severity_reasons=tuple(severity_reasons),
        rule=decided.rule if decided is not None else None,
    )


def _reasons(
    decided: Evidence | None, evidence: list[Evidence], doubts: list[str]
) -> tuple[str, ...]:
    ordered: list[str] = []
    if decided is not None:
        ordered.append(decided.cited)
    for item in evidence:
        if item is not decided and item.cited not in ordered:
            ordered.append(item.cited)
    ordered.extend(doubt for doubt in doubts if doubt not in ordered)
    return tuple(ordered)
