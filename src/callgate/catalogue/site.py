"""A static tool risk catalogue: which files, under which names, with what in them. Pure.

    index.html, index.md           counts, then every tool by category, riskiest first
    tools/<page>.html, .md         one risk card per tool, linking back and to its neighbours

Page names are safe on every filesystem whatever the tool is called: letters, digits,
`_` and `-` only, never `index` or a reserved device name, unique even where two tools
differ only in case or in characters that had to go (then a short hash of the exact
name follows). `write_catalogue` is the only function here that touches the disk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from markupsafe import Markup

from callgate.catalogue.card import RiskCard
from callgate.catalogue.pages import render_index, render_tool_page

TOOLS_DIR = "tools"
KINDS = ("html", "md")
_MAX_STEM = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_RESERVED = frozenset(
    {"index", "con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(10)}
    | {f"lpt{n}" for n in range(10)}
)


def page_names(names: Sequence[str]) -> dict[str, str]:
    """A file stem per tool name: safe, and unique even on case-insensitive filesystems."""
    slugs = {name: _UNSAFE.sub("-", name).strip("-")[:_MAX_STEM] for name in names}
    taken: dict[str, int] = {}
    for slug in slugs.values():
        taken[slug.lower()] = taken.get(slug.lower(), 0) + 1
    stems: dict[str, str] = {}
    for name, slug in slugs.items():
        clean = slug == name and slug.lower() not in _RESERVED and taken[slug.lower()] == 1
        if clean:
            stems[name] = slug
        else:
            digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
            stems[name] = f"{slug or 'tool'}-{digest}"
    return stems


def build_catalogue(cards: Sequence[RiskCard], *, title: str, origin: str) -> dict[str, str]:
    """Every file of the catalogue: relative path → text. `cards` in the order to list them."""
    stems = page_names([card.name for card in cards])
    files: dict[str, str] = {}
    for kind in KINDS:
        links = {name: Markup(f"{TOOLS_DIR}/{stem}") for name, stem in stems.items()}
        files[f"index.{kind}"] = render_index(cards, kind, title=title, origin=origin, links=links)
        for position, card in enumerate(cards):
            files[f"{TOOLS_DIR}/{stems[card.name]}.{kind}"] = render_tool_page(
                card,
                kind,
                title=title,
                index=Markup("../index"),
                previous=_neighbour(cards, position - 1, stems),
                following=_neighbour(cards, position + 1, stems),
            )
    return files


def _neighbour(
    cards: Sequence[RiskCard], position: int, stems: Mapping[str, str]
) -> tuple[str, str] | None:
    if not 0 <= position < len(cards):
        return None
    name = cards[position].name
    return (Markup(stems[name]), name)


def write_catalogue(directory: Path, files: Mapping[str, str]) -> list[Path]:
    """Write the files under `directory` (created when missing); return the paths written."""
    written: list[Path] = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
