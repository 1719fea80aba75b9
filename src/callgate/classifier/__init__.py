"""The risk classifier: a pure, deterministic reading of an MCP tool definition.

`classify_tool(tool)` returns a `Classification`: category (read, write, execute,
destructive, financial), severity, confidence with a numeric score, and the reasons.
"""

from __future__ import annotations

from callgate.classifier.cache import CategoryChange, ToolCategories
from callgate.classifier.classification import (
    Category,
    Classification,
    Confidence,
    Flag,
    Severity,
)
from callgate.classifier.engine import classify_tool

__all__ = [
    "Category",
    "CategoryChange",
    "Classification",
    "Confidence",
    "Flag",
    "Severity",
    "ToolCategories",
    "classify_tool",
]
