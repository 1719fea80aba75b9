"""Risk cards for the terminal, with rich: what `callgate classify --format card` prints.

Everything a server sent (names, descriptions, parameter docs) is untrusted: it goes into
`Text` objects, never into markup, and loses its control characters, so a description can
neither style the output nor send escape sequences to the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from callgate.catalogue.card import RiskCard
from callgate.classifier import Severity

SEVERITY_STYLE = {
    Severity.LOW: "green",
    Severity.MEDIUM: "yellow",
    Severity.HIGH: "dark_orange",
    Severity.CRITICAL: "bold red",
}
# Parameters listed on a card before "and N more" (some servers send a hundred).
MAX_PARAMETERS = 12
_PARAMETER_DOC_CHARS = 90
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without control characters (escape sequences), newlines and tabs kept."""
    return _CONTROL.sub("", text)


def _text(text: str, style: str = "") -> Text:
    return Text(printable(text), style=style)


def card_renderable(card: RiskCard) -> RenderableType:
    """One card as a rich panel."""
    result = card.classification
    grid = Table.grid(padding=(0, 2), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    does = _text(card.tool.summary or "(no description)")
    if card.tool.title:
        does = Text.assemble(_text(card.tool.title, "italic"), ": ", does)
    grid.add_row("does", does)
    grid.add_row("parameters", _parameters(card))
    grid.add_row(
        "annotations",
        _text(", ".join(f"{k}: {v}" for k, v in card.annotations) or "none sent", "dim"),
    )
    grid.add_row("", "")
    grid.add_row("category", _lines([card.why_category], [f"- {r}" for r in card.other_reasons]))
    grid.add_row(
        "severity",
        _lines(
            [result.severity.value], list(result.severity_reasons), SEVERITY_STYLE[result.severity]
        ),
    )
    grid.add_row(
        "confidence",
        _lines(
            [f"{result.confidence.value} ({result.score:.2f})"],
            [f"lowered by: {d}" for d in result.doubts],
        ),
    )
    flags = [f"{flag.value}: {why}" if why else flag.value for flag, why in card.flags]
    grid.add_row("flags", _text("\n".join(flags) or "none"))
    parts: list[RenderableType] = [grid]
    if card.findings:
        parts.append(_heading(f"poisoning scan: {len(card.findings)} finding(s)"))
        parts.append(_findings(card))
    if card.attacks:
        parts.append(_heading("attacks that exploit this access"))
        attacks = Table.grid(padding=(0, 1), expand=True)
        attacks.add_column(no_wrap=True)
        attacks.add_column(ratio=1)
        for attack in card.attacks:
            attacks.add_row(
                "•",
                Text.assemble(
                    _text(attack.title, "bold"),
                    _text(f" ({attack.because})", "dim"),
                    "\n",
                    _text(attack.how),
                    "\n",
                    _text("limit: ", "italic"),
                    _text(attack.limits),
                ),
            )
        parts.append(attacks)
    parts += _recommendation(card)
    return Panel(
        Group(*parts),
        title=Text.assemble(
            _text(card.name, "bold"),
            "  ",
            _text(result.category.value, "bold"),
            " · ",
            _text(result.severity.value, SEVERITY_STYLE[result.severity]),
        ),
        title_align="left",
        border_style=SEVERITY_STYLE[result.severity].replace("bold ", ""),
    )


def print_cards(cards: Iterable[RiskCard], console: Console) -> None:
    """Print each card, one after the other."""
    for card in cards:
        console.print(card_renderable(card))


def _heading(text: str) -> Text:
    return Text(f"\n{text}", style="bold underline")


def _lines(first: list[str], rest: list[str], style: str = "") -> Text:
    text = Text()
    for index, line in enumerate(first):
        text.append(("\n" if index else "") + printable(line), style=style)
    for line in rest:
        text.append("\n" + printable(line), style="dim")
    return text


def _parameters(card: RiskCard) -> Text:
    parameters = card.tool.parameters
    if not parameters:
        return _text("none" if card.tool.has_schema else "no input schema sent", "dim")
    text = Text()
    for index, parameter in enumerate(parameters[:MAX_PARAMETERS]):
        if index:
            text.append("\n")
        text.append(printable(parameter.name), style="bold")
        needed = "required" if parameter.required else "optional"
        text.append(printable(f" ({parameter.type_text}, {needed})"), style="dim")
        doc = " ".join(parameter.description.split())
        if doc:
            if len(doc) > _PARAMETER_DOC_CHARS:
                doc = doc[: _PARAMETER_DOC_CHARS - 1].rstrip() + "…"
            text.append(" " + printable(doc))
    if len(parameters) > MAX_PARAMETERS:
        text.append(f"\n… and {len(parameters) - MAX_PARAMETERS} more", style="dim")
    return text


def _findings(card: RiskCard) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for finding in card.findings:
        table.add_row(
            _text(finding.severity.value, SEVERITY_STYLE[finding.severity]),
            Text.assemble(
                _text(finding.message),
                _text(f"\n{finding.where} [{finding.span[0]}:{finding.span[1]}] ", "dim"),
                _text(finding.text, "italic"),
            ),
        )
    return table


def _recommendation(card: RiskCard) -> list[RenderableType]:
    recommendation, snippets = card.recommendation, card.snippets
    if recommendation is None or snippets is None:
        return [
            _heading("no recommendation"),
            Text("a tool without a name cannot be named in a policy"),
        ]
    parts: list[RenderableType] = [
        _heading("recommended rule"),
        Syntax(printable(snippets.policy), "yaml", theme="ansi_dark", word_wrap=True),
    ]
    parts.append(Text("why each rule:", style="dim"))
    why = Table.grid(padding=(0, 1), expand=True)
    why.add_column(no_wrap=True)
    why.add_column(ratio=1)
    for rule in recommendation.rules:
        why.add_row("•", Text.assemble(_text(rule.name, "bold"), ": ", _text(rule.why)))
    parts.append(why)
    for title, lines in (
        ("to do", recommendation.placeholders),
        ("note", recommendation.notes),
    ):
        if lines:
            parts.append(_text("\n".join(f"{title}: {line}" for line in lines), "yellow"))
    parts.append(_heading("switch it off"))
    if snippets.hide is not None:
        parts.append(Syntax(printable(snippets.hide), "yaml", theme="ansi_dark", word_wrap=True))
        parts.append(Text("or deny every call, keeping it listed:", style="dim"))
    parts.append(Syntax(printable(snippets.deny), "yaml", theme="ansi_dark", word_wrap=True))
    return parts
