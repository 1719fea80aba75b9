"""Catalogue pages in HTML and Markdown, from jinja2 templates shipped with callgate.

Tool names, descriptions and parameter docs come from the server and are untrusted. HTML
templates are autoescaped. Markdown has no autoescape of its own, so every value a
Markdown template prints goes through `escape_markdown` (HTML special characters become
entities, Markdown punctuation is backslash-escaped, lines are folded) unless a filter
already made it safe: `code` (an inline code span) and `codeblock` (a fenced block whose
fence is longer than any backtick run inside).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from callgate.catalogue.card import RiskCard
from callgate.classifier import Category, Severity

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]{}|~#!])")
# What starts a list item when it begins a line: `- x`, `+ x`, `1. x`, `1) x`.
_LIST_MARKER = re.compile(r"^(\s*)([-+]|\d+[.)])(?=\s|$)")
_CODE_SPAN = re.compile(r"`([^`]+)`")


def escape_markdown(value: object) -> str:
    """A value as Markdown text that renders as exactly that text, on one line."""
    text = html.escape(re.sub(r"\s+", " ", str(value)), quote=False)
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    return _LIST_MARKER.sub(lambda m: f"{m[1]}{m[2][:-1]}\\{m[2][-1]}", text)


def _prose(value: object, kind: str) -> Markup:
    """Text whose `backticked` parts are code: each part escaped, code parts as code.

    For texts that mix callgate's words with a server's (a parameter name in a reason):
    whatever the parts hold, each is escaped on its own.
    """
    text = str(value)
    parts: list[str] = []
    at = 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(_plain(text[at : match.start()], kind))
        parts.append(_code(match[1], kind))
        at = match.end()
    parts.append(_plain(text[at:], kind))
    return Markup("".join(parts))


def _plain(text: str, kind: str) -> str:
    return str(Markup.escape(text)) if kind == "html" else escape_markdown(text)


def _code(text: str, kind: str) -> str:
    if kind == "html":
        return f"<code>{Markup.escape(text)}</code>"
    return str(_markdown_code(text))


def _markdown_code(value: object, in_table: bool = False) -> Markup:
    """An inline code span holding `value` on one line."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") or not text else text
    if in_table:
        padded = padded.replace("|", "\\|")
    return Markup(f"{fence}{padded}{fence}")


def _markdown_codeblock(value: object, language: str = "") -> Markup:
    """A fenced code block holding `value` exactly."""
    text = str(value).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return Markup(f"{fence}{language}\n{text}\n{fence}")


def _finalize_markdown(value: object) -> object:
    if isinstance(value, Markup):
        return value
    return Markup(escape_markdown(value)) if value is not None else ""


@functools.cache
def _environment(kind: str) -> jinja2.Environment:
    loader = jinja2.PackageLoader("callgate.catalogue", "templates")
    if kind == "html":
        environment = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined
        )
        environment.filters["prose"] = lambda value: _prose(value, "html")
    else:
        environment = jinja2.Environment(
            loader=loader,
            autoescape=False,
            finalize=_finalize_markdown,
            undefined=jinja2.StrictUndefined,
        )
        environment.filters["code"] = _markdown_code
        environment.filters["codeblock"] = _markdown_codeblock
        environment.filters["prose"] = lambda value: _prose(value, "md")
    environment.globals["severity_colour"] = _SEVERITY_COLOUR
    environment.globals["severity_note"] = severity_note
    environment.trim_blocks = True
    environment.lstrip_blocks = True
    environment.keep_trailing_newline = True
    return environment


def render_tool_page(
    card: RiskCard,
    kind: str,
    *,
    title: str,
    index: str,
    previous: tuple[str, str] | None = None,
    following: tuple[str, str] | None = None,
) -> str:
    """A tool's page (`kind` html or md), linking back to `index` and to its neighbours."""
    return (
        _environment(kind)
        .get_template(f"tool.{kind}.jinja")
        .render(
            card=card,
            title=title,
            index=index,
            previous=previous,
            following=following,
        )
    )


def severity_note(card: RiskCard) -> str:
    """`(the category's base)`, or where the category's base was and that evidence moved it."""
    base = card.severity_base
    if card.classification.severity is base:
        return "(the category's base)"
    moved = "raised" if card.classification.severity.rank > base.rank else "lowered"
    return f"({moved} from {base.value}, the base for {card.classification.category.value})"


def render_index(
    cards: Sequence[RiskCard],
    kind: str,
    *,
    title: str,
    origin: str,
    links: Mapping[str, str],
) -> str:
    """The index page: counts, then every tool by category, riskiest first."""
    by_category = [
        (category, [card for card in cards if card.classification.category is category])
        for category in sorted(Category, key=lambda c: c.rank, reverse=True)
    ]
    severities = sorted(Severity, key=lambda s: s.rank, reverse=True)
    counts = {
        (category, severity): sum(
            1
            for card in cards
            if card.classification.category is category and card.classification.severity is severity
        )
        for category in Category
        for severity in Severity
    }
    flags: dict[str, int] = {}
    for card in cards:
        for flag in card.classification.flags:
            flags[flag.value] = flags.get(flag.value, 0) + 1
    return (
        _environment(kind)
        .get_template(f"index.{kind}.jinja")
        .render(
            cards=cards,
            title=title,
            origin=origin,
            links=links,
            by_category=[(category, members) for category, members in by_category if members],
            severities=severities,
            counts=counts,
            flags=sorted(flags.items(), key=lambda item: (-item[1], item[0])),
            placeholders=_placeholder_count(cards),
            poisoned=sum(1 for card in cards if card.findings),
        )
    )


def _placeholder_count(cards: Sequence[RiskCard]) -> int:
    return sum(
        1 for card in cards if card.recommendation is not None and card.recommendation.placeholders
    )


_SEVERITY_COLOUR: Mapping[Any, str] = {
    Severity.LOW: "#2e7d32",
    Severity.MEDIUM: "#b26a00",
    Severity.HIGH: "#d84315",
    Severity.CRITICAL: "#b71c1c",
}
