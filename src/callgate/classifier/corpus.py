"""Reading labelled tool files: the shared dev set, the hand-labelled file and the corpus.

The edge that `bench/classifier_report.py` and the classifier's tests share. Two shapes:

- a JSON-lines file whose rows hold both the tool (`name`, `description`) and its label
  (`category`, `why`, `label_confidence`, `flags`);
- a corpus folder (`tests/classifier/corpus/<split>/`): per server, `<slug>.json` as
  `list_tools.py` wrote it (the tools exactly as the server sent them) and
  `<slug>.labels.jsonl` with one label row per tool, matched by name.
"""

from __future__ import annotations

import json
from pathlib import Path

from callgate.classifier.evaluation import Labelled


def load_labelled_lines(path: Path, *, flags_labelled: bool) -> list[Labelled]:
    """Every row of a JSON-lines file holding tools and their labels."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Labelled.from_row(row, flags_labelled=flags_labelled) for row in rows]


def load_corpus(folder: Path) -> list[Labelled]:
    """Every labelled tool of a corpus folder, server by server in name order.

    Raises ValueError when a label names a tool its server did not list, or a listed tool
    has no label: the two files must describe the same tools.
    """
    found: list[Labelled] = []
    for listing_path in sorted(folder.glob("*.json")):
        listing = json.loads(listing_path.read_text(encoding="utf-8"))
        labels_path = listing_path.with_suffix(".labels.jsonl")
        labels = {
            row["name"]: row
            for row in (
                json.loads(line)
                for line in labels_path.read_text(encoding="utf-8").splitlines()
                if line
            )
        }
        tools = {tool["name"]: tool for tool in listing["tools"]}
        if set(labels) != set(tools):
            missing = sorted(set(tools) ^ set(labels))[:5]
            raise ValueError(f"{labels_path}: labels and tools differ ({', '.join(missing)})")
        found.extend(
            Labelled.from_row(labels[name], tools[name], flags_labelled=True) for name in tools
        )
    return found


def corpus_servers(folder: Path) -> list[str]:
    """The server slugs of a corpus folder."""
    return sorted(path.stem for path in folder.glob("*.json"))
