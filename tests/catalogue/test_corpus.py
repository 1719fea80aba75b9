"""Every tool of every corpus gets a recommendation that validates and fires.

Whatever the classifier decides for each real tool (names, descriptions, schemas and
annotations as real servers sent them), its recommended rule, hide line and deny rule
must pass `callgate validate`, and its test cases must pass `callgate test`, each rule
firing at least once. Corpus listings keep arriving: they are globbed, one test each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from callgate.catalogue.card import build_card
from tests.catalogue.checks import assert_recommendation_holds

ROOT = Path(__file__).resolve().parents[2]
CLASSIFIER = ROOT / "tests" / "classifier"
# The shared copy of the dev set sits beside the repository (as in CI), when it is there.
SHARED_DEV = ROOT.parent / "shared" / "data" / "tool-risk-dev.jsonl"

SOURCES = sorted(
    [
        CLASSIFIER / "data" / "tool-risk-dev.jsonl",
        CLASSIFIER / "other_servers.jsonl",
        *([SHARED_DEV] if SHARED_DEV.is_file() else []),
        *(CLASSIFIER / "corpus").glob("dev/*.json"),
        *(CLASSIFIER / "corpus").glob("holdout*/*.json"),
    ]
)
_DEFINITION_KEYS = ("name", "title", "description", "inputSchema", "annotations")


def _tools(source: Path) -> list[Mapping[str, Any]]:
    """The tool definitions in a listing (`{"tools": [...]}`) or a labelled JSON-lines file."""
    if source.suffix == ".json":
        tools = json.loads(source.read_text(encoding="utf-8"))["tools"]
        assert isinstance(tools, list)
        return tools
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line]
    # Only what a server sends: a row's labels are not part of the definition.
    return [{key: row[key] for key in _DEFINITION_KEYS if key in row} for row in rows]


def test_the_corpora_are_found() -> None:
    assert len(SOURCES) >= 2
    assert all(_tools(source) for source in SOURCES)


# Tools per test, so that parallel workers share a large file.
CHUNK = 40
CHUNKS = [
    pytest.param(source, start, id=f"{source.relative_to(ROOT.parent)}[{start}:{start + CHUNK}]")
    for source in SOURCES
    for start in range(0, len(_tools(source)), CHUNK)
]


@pytest.mark.parametrize(("source", "start"), CHUNKS)
def test_every_recommendation_validates_and_its_cases_fire(
    source: Path, start: int, tmp_path: Path
) -> None:
    for index, tool in enumerate(_tools(source)[start : start + CHUNK], start):
        card = build_card(tool)
        assert card.recommendation is not None, tool["name"]
        assert_recommendation_holds(card.recommendation, tmp_path / str(index))
