"""Risk cards: what they say, and the terminal layout of `classify --format card`."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from callgate.catalogue.card import build_card, build_cards, card_for
from callgate.catalogue.definition import read_definition
from callgate.catalogue.terminal import print_cards
from callgate.classifier import Category, Classification, Confidence, Flag, Severity, classify_tool

SAMPLE_TOOLS: list[dict[str, Any]] = [
    {"name": "CloneContainerToECR", "description": ""},
    {
        "name": "delete_file",
        "description": "Delete a file.",
        "inputSchema": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "recursive": {"type": "boolean"}},
            "required": ["path"],
        },
        "annotations": {"destructiveHint": True},
    },
    {
        "name": "create_charge",
        "description": "Charge a customer's card.",
        "inputSchema": {
            "type": "object",
            "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}},
        },
    },
    {"name": "list_files", "description": "List files", "annotations": {"readOnlyHint": True}},
]

V2 = Classification(
    name="export_api_keys",
    category=Category.READ,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    score=0.6,
    reasons=("name verb 'export' reads", "takes `format`"),
    flags=(Flag.BULK, Flag.CREDENTIALS),
    decided_by="name verb 'export' + object 'api keys': a read (rule 6)",
    doubts=("the description is one word",),
    flag_reasons=((Flag.BULK, "returns every key at once"), (Flag.CREDENTIALS, "API keys")),
    severity_reasons=("credentials raise a read to high",),
)
V2_TOOL = {
    "name": "export_api_keys",
    "description": "Export.",
    "inputSchema": {"type": "object", "properties": {"format": {"type": "string"}}},
}


def _terminal(cards: Any, width: int = 100) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    print_cards(cards, console)
    return console.export_text()


def _words(text: str) -> str:
    """The text of a panel with its borders and line breaks gone, to find wrapped phrases."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize("tool", SAMPLE_TOOLS, ids=lambda tool: tool["name"])
def test_card_shows_the_classification_its_flags_attacks_and_rule(tool: dict[str, Any]) -> None:
    card = build_card(tool)
    result = classify_tool(tool)

    assert card.classification == result
    text = _terminal([card])
    assert result.category.value in text
    assert result.severity.value in text
    assert card.why_category in _words(text)
    for flag in result.flags:
        assert flag.value in text
    assert card.attacks
    for attack in card.attacks:
        assert attack.title in text
    assert card.recommendation is not None
    for rule in card.recommendation.rules:
        assert rule.name in text
    assert f"hide: [{tool['name']}]" in text


def test_a_v2_verdict_shows_decided_by_doubts_flag_and_severity_reasons() -> None:
    card = card_for(read_definition(V2_TOOL), V2)

    text = _words(_terminal([card]))

    assert card.why_category == V2.decided_by
    for expected in (
        V2.decided_by,
        "lowered by: the description is one word",
        "bulk: returns every key at once",
        "credentials: API keys",
        "credentials raise a read to high",
        "Credential theft",
        "Blast radius",
        "every call needs approval",
        "at most 3 calls an hour per agent",
    ):
        assert expected in text
    assert card.other_reasons == V2.reasons


def test_the_deciding_sentence_does_not_repeat_the_category() -> None:
    prefixed = replace(V2, decided_by="read: name verb 'export' reads (rule 6)")
    bare = replace(V2, decided_by="", reasons=("first", "second"))

    assert card_for(read_definition(V2_TOOL), prefixed).why_category == (
        "name verb 'export' reads (rule 6)"
    )
    assert card_for(read_definition(V2_TOOL), bare).why_category == "first"
    assert card_for(read_definition(V2_TOOL), bare).other_reasons == ("second",)


def test_cards_fit_a_terminal_of_100_columns() -> None:
    text = _terminal(build_cards([*SAMPLE_TOOLS, V2_TOOL]), width=100)

    assert max(len(line) for line in text.splitlines()) <= 100


def test_server_text_cannot_style_the_terminal_or_send_escapes() -> None:
    tool = {
        "name": "evil[bold]",
        "description": "Reads \x1b[31mred\x1b[0m [link=http://x]click[/link] things.",
    }
    console = Console(width=100, file=io.StringIO(), force_terminal=True)
    print_cards(build_cards([tool]), console)
    output = console.file.getvalue()  # type: ignore[attr-defined]

    assert "\x1b[31mred" not in output
    assert "[link=http://x]click[/link]" in output
    assert "evil[bold]" in output


def test_cards_are_ordered_riskiest_first_and_a_repeated_name_counts_once() -> None:
    cards = build_cards([*SAMPLE_TOOLS, {"name": "list_files", "description": "Delete files"}])

    keys = [card.risk_key for card in cards]
    assert keys == sorted(keys)
    assert [card.name for card in cards].count("list_files") == 1
