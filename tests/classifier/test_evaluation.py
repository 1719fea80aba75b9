"""The classifier against people's labels: the corpus is whole, the targets hold.

The figures themselves are printed by `bench/classifier_report.py`; these tests keep them
from sliding back. The held-out servers were labelled blind and kept out of rule writing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callgate.classifier import Category
from callgate.classifier.corpus import corpus_servers, load_corpus, load_labelled_lines
from callgate.classifier.evaluation import Labelled, Measurement, measure

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
SHARED_DEV_SET = HERE / "data" / "tool-risk-dev.jsonl"
HAND_LABELLED = HERE / "other_servers.jsonl"
# Servers kept out of rule writing, one folder per labelling round.
HELD_OUT = (CORPUS / "holdout", CORPUS / "holdout2")


def _held_out_tools() -> list[Labelled]:
    return [row for folder in HELD_OUT for row in load_corpus(folder)]


def _held_out_servers() -> list[str]:
    return [server for folder in HELD_OUT for server in corpus_servers(folder)]


# Kept apart for measuring the classifier on tools it has never seen (the list).
FORBIDDEN = (
    "iam",
    "sns-sqs",
    "valkey",
    "dynamodb",
    "ecs",
    "eks",
    "serverless",
    "elasticache",
    "paddle",
    "xero",
    "mcp-server-sqlite",
    "mcp-shell-server",
    "kubernetes",
    "desktop-commander",
    "excel-mcp",
    "ha-mcp",
    "ccxt",
    "creem",
    "mobile-mcp",
    "email-mcp",
)


@pytest.fixture(scope="module")
def held_out() -> Measurement:
    return measure(_held_out_tools())


@pytest.fixture(scope="module")
def developed_on() -> dict[str, Measurement]:
    return {
        "shared": measure(load_labelled_lines(SHARED_DEV_SET, flags_labelled=False)),
        "hand": measure(load_labelled_lines(HAND_LABELLED, flags_labelled=True)),
        "corpus": measure(load_corpus(CORPUS / "dev")),
    }


def test_the_corpus_has_20_servers_and_600_tools_with_schemas_none_of_them_kept_apart() -> None:
    servers = corpus_servers(CORPUS / "dev") + _held_out_servers()
    tools: list[Labelled] = load_corpus(CORPUS / "dev") + _held_out_tools()

    assert len(servers) >= 20
    assert len(tools) >= 600
    assert sum("inputSchema" in row.tool for row in tools) == len(tools)
    assert not [s for s in servers if any(word in s for word in FORBIDDEN)]
    assert not set(corpus_servers(CORPUS / "dev")) & set(_held_out_servers())
    assert len(_held_out_servers()) == len(set(_held_out_servers()))


def test_every_listing_says_how_it_was_listed_and_the_readme_names_it() -> None:
    readme = (CORPUS / "README.md").read_text()
    for listing in sorted(CORPUS.glob("*/*.json")):
        record = json.loads(listing.read_text())
        assert {"package", "registry", "version", "command", "listed_on"} <= set(record)
        assert f"### {record['server']}" in readme, listing


def test_a_third_of_the_corpus_is_held_out() -> None:
    dev = len(load_corpus(CORPUS / "dev"))
    held = len(_held_out_tools())

    assert 0.28 <= held / (dev + held) <= 0.4


def test_labels_follow_the_taxonomy_in_the_hand_labelled_file() -> None:
    rows = {
        row.tool["name"]: row for row in load_labelled_lines(HAND_LABELLED, flags_labelled=True)
    }

    assert rows["browser_navigate"].label is Category.EXECUTE
    assert rows["browser_click"].label is Category.EXECUTE
    assert rows["list_subscriptions"].label is Category.READ


@pytest.mark.parametrize(("name", "floor"), [("shared", 0.97), ("hand", 0.95), ("corpus", 0.93)])
def test_agreement_on_the_data_the_rules_were_written_from(
    developed_on: dict[str, Measurement], name: str, floor: float
) -> None:
    assert developed_on[name].agreement >= floor


def test_no_dangerous_tool_is_called_read_with_high_confidence_where_rules_were_written(
    developed_on: dict[str, Measurement],
) -> None:
    for measured in developed_on.values():
        assert [o.result.name for o in measured.dangerous_read_with_high_confidence()] == []


def test_the_held_out_figures_do_not_slide_back(held_out: Measurement) -> None:
    # The targets (agreement 0.92, dangerous caught 0.97, none called read with high
    # confidence) are judged by bench/classifier_report.py and are not all met yet; these
    # floors sit just under the figures measured when the rules were frozen
    # (docs/classifier.md), so a change that makes the held-out servers worse fails here.
    assert held_out.agreement >= 0.88
    assert held_out.dangerous_caught >= 0.78
    assert held_out.read_overblocking <= 0.05
    assert len(held_out.dangerous_read_with_high_confidence()) <= 2
