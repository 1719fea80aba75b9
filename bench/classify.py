"""Time the classifier over 10,000 distinct tool definitions (target: under 1 s in total).

The definitions are built from the labelled dev set: each real tool is repeated under a
unique name (so no cache helps), and every other one gets an input schema and
annotations, so every signal reader runs. Run: `.venv/bin/python bench/classify.py`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from callgate.classifier import classify_tool

DEV_SET = Path(__file__).parents[1] / "tests" / "classifier" / "data" / "tool-risk-dev.jsonl"
COUNT = 10_000
TARGET_SECONDS = 1.0

_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "force": {"type": "boolean"},
        "url": {"type": "string"},
        "amount": {"type": "number"},
    },
}
_ANNOTATIONS = {"readOnlyHint": False, "destructiveHint": False, "openWorldHint": True}


def build_tools(rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` distinct tool definitions cycling through the dev set's tools."""
    tools = []
    for index in range(count):
        row = rows[index % len(rows)]
        tool: dict[str, Any] = {
            "name": f"{row['name']}_{index}",
            "description": row["description"],
        }
        if index % 2:
            tool["inputSchema"] = _SCHEMA
            tool["annotations"] = _ANNOTATIONS
        tools.append(tool)
    return tools


def main() -> int:
    rows = [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]
    tools = build_tools(rows, COUNT)
    start = time.perf_counter()
    for tool in tools:
        classify_tool(tool)
    elapsed = time.perf_counter() - start
    print(
        f"classified {COUNT} tools in {elapsed:.3f} s "
        f"({elapsed / COUNT * 1e6:.1f} µs per tool; target < {TARGET_SECONDS:g} s)"
    )
    return 0 if elapsed < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
