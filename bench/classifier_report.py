"""How well the classifier agrees with people, per data set and overall, against its targets.

Run: `.venv/bin/python bench/classifier_report.py [--write-docs]`

Prints, for each labelled data set and for all of them: agreement, precision and recall per
category, the confusion table, dangerous tools (execute, destructive, financial) classified
as any dangerous category, dangerous tools classified read with high confidence, read tools
classified dangerous, and flag precision and recall where flags are labelled. The targets
are held on the **held-out** servers of the corpus: their tools were labelled blind and kept
out of rule writing. Exits 1 when a target is missed.

`--write-docs` rewrites the results section of docs/classifier.md (between its
`<!-- results -->` markers) from the same figures, so the page never drifts from the code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from callgate.classifier import Category, Flag, classify_tool
from callgate.classifier.corpus import corpus_servers, load_corpus, load_labelled_lines
from callgate.classifier.evaluation import Labelled, Measurement, measure

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "classifier"
DOCS = ROOT / "docs" / "classifier.md"
START, END = "<!-- results -->", "<!-- /results -->"
# Servers kept out of rule writing, by labelling round; the targets hold on all of them.
HELD_OUT = {
    "corpus held out (rounds 1-3)": DATA / "corpus" / "holdout",
    "corpus held out (round 4)": DATA / "corpus" / "holdout2",
}


@dataclass(frozen=True, slots=True)
class Target:
    """One figure the held-out servers must reach."""

    name: str
    goal: str
    met: Callable[[Measurement], bool]
    shown: Callable[[Measurement], str]


def _recall_target(category: Category, goal: float) -> Target:
    def met(m: Measurement) -> bool:
        return m.recall(category) >= goal

    def shown(m: Measurement) -> str:
        return f"{m.recall(category):.3f} (of {m.labelled(category)})"

    return Target(f"recall {category.value}", f">= {goal:.2f}", met, shown)


TARGETS = (
    Target("agreement", ">= 0.92", lambda m: m.agreement >= 0.92, lambda m: f"{m.agreement:.3f}"),
    *(
        _recall_target(category, goal)
        for category, goal in (
            (Category.FINANCIAL, 0.95),
            (Category.DESTRUCTIVE, 0.95),
            (Category.EXECUTE, 0.90),
        )
    ),
    Target(
        "dangerous classified dangerous",
        ">= 0.97",
        lambda m: m.dangerous_caught >= 0.97,
        lambda m: f"{m.dangerous_caught:.3f} (of {len(m.dangerous())})",
    ),
    Target(
        "dangerous called read, high confidence",
        "= 0",
        lambda m: not m.dangerous_read_with_high_confidence(),
        lambda m: str(len(m.dangerous_read_with_high_confidence())),
    ),
    Target(
        "read tools called dangerous",
        "<= 5%",
        lambda m: m.read_overblocking <= 0.05,
        lambda m: f"{m.read_overblocking:.1%} ({len(m.reads_called_dangerous())})",
    ),
)


def data_sets() -> dict[str, list[Labelled]]:
    """Every labelled data set, by name."""
    return {
        "shared dev set": load_labelled_lines(
            DATA / "data" / "tool-risk-dev.jsonl", flags_labelled=False
        ),
        "hand-labelled": load_labelled_lines(DATA / "other_servers.jsonl", flags_labelled=True),
        "corpus dev": load_corpus(DATA / "corpus" / "dev"),
        **{name: load_corpus(folder) for name, folder in HELD_OUT.items()},
    }


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def summary_table(measured: dict[str, Measurement]) -> list[str]:
    """One row per data set: size, agreement, dangerous caught, over-blocking."""
    rows = []
    for name, m in measured.items():
        rows.append(
            [
                name,
                str(len(m.servers)),
                str(len(m)),
                f"{m.agreement:.3f}",
                f"{m.dangerous_caught:.3f}",
                str(len(m.dangerous_read_with_high_confidence())),
                f"{m.read_overblocking:.1%}",
            ]
        )
    return _table(
        [
            "data set",
            "servers",
            "tools",
            "agreement",
            "dangerous → dangerous",
            "dangerous → read (high)",
            "read → dangerous",
        ],
        rows,
    )


def category_table(m: Measurement) -> list[str]:
    """Precision and recall per category, with the confusion table beside them."""
    confusion = m.confusion()
    header = ["label \\ classified", *(c.value for c in Category), "recall", "precision"]
    rows = [
        [
            f"**{label.value}** ({m.labelled(label)})",
            *(str(confusion[label][column]) for column in Category),
            f"{m.recall(label):.3f}",
            f"{m.precision(label):.3f}",
        ]
        for label in Category
    ]
    return _table(header, rows)


def flag_table(m: Measurement) -> list[str]:
    """Precision and recall per flag (tools whose flags are labelled)."""
    rows = [
        [
            score.flag.value,
            str(score.true_positives + score.false_negatives),
            f"{score.precision:.2f}",
            f"{score.recall:.2f}",
        ]
        for score in m.flag_scores()
    ]
    return _table(["flag", "labelled", "precision", "recall"], rows)


def target_table(held_out: Measurement) -> tuple[list[str], bool]:
    """The targets on the held-out servers, and whether all are met."""
    rows = []
    met_all = True
    for target in TARGETS:
        met = target.met(held_out)
        met_all = met_all and met
        rows.append([target.name, target.goal, target.shown(held_out), "met" if met else "MISSED"])
    return _table(["target (held-out servers)", "goal", "measured", ""], rows), met_all


def agreement_table() -> list[str]:
    """Two people against each other, and the classifier against each, on the same tools."""
    second = {
        (row.server, str(row.tool["name"])): row
        for row in load_labelled_lines(
            DATA / "agreement" / "second-labels.jsonl", flags_labelled=True
        )
    }
    first = {
        (row.server, str(row.tool["name"])): row
        for folder in (DATA / "corpus" / "dev", *HELD_OUT.values())
        for row in load_corpus(folder)
    }
    pairs = [
        (first[key], row)
        for key, row in second.items()
        if key in first and "low" not in (first[key].confidence, row.confidence)
    ]
    people = sum(a.label is b.label for a, b in pairs) / len(pairs)
    dangerous = [(a, b) for a, b in pairs if a.label.dangerous]
    caught = sum(b.label.dangerous for _, b in dangerous) / len(dangerous)
    results = {id(a): classify_tool(a.tool).category for a, _ in pairs}
    versus_first = sum(results[id(a)] is a.label for a, _ in pairs) / len(pairs)
    versus_second = sum(results[id(a)] is b.label for a, b in pairs) / len(pairs)
    return _table(
        [
            "tools",
            "labeller vs labeller",
            "first's dangerous → second's dangerous",
            "classifier vs first",
            "classifier vs second",
        ],
        [
            [
                str(len(pairs)),
                f"{people:.3f}",
                f"{caught:.3f} (of {len(dangerous)})",
                f"{versus_first:.3f}",
                f"{versus_second:.3f}",
            ]
        ],
    )


def disagreement_table(m: Measurement, limit: int = 60) -> list[str]:
    """The tools the classifier and the labels disagree on, dangerous mistakes first."""
    ordered = sorted(
        m.disagreements(),
        key=lambda o: (-max(o.label.rank, o.result.category.rank), o.server, o.result.name),
    )
    rows = [
        [
            f"`{o.result.name}`",
            o.server,
            o.label.value,
            f"{o.result.category.value} ({o.result.confidence.value})",
            o.labelled.why.replace("|", "/")[:110],
        ]
        for o in ordered[:limit]
    ]
    return _table(["tool", "server", "label", "classified", "labeller's why"], rows)


def report() -> tuple[list[str], bool]:
    """The whole report as Markdown lines, and whether every target is met."""
    sets = data_sets()
    measured = {name: measure(rows) for name, rows in sets.items()}
    everything = measure([row for rows in sets.values() for row in rows])
    held_out = measure([row for name in HELD_OUT for row in sets[name]])
    targets, met = target_table(held_out)
    lines = ["### Targets", "", *targets, "", "### Every data set", ""]
    lines += summary_table({**measured, "all held out": held_out, "all": everything})
    lines += [
        "",
        *(
            f"{name.capitalize()}: {', '.join(corpus_servers(folder))}."
            for name, folder in HELD_OUT.items()
        ),
        "",
        "### Held-out servers by category",
        "",
        *category_table(held_out),
        "",
        "### All labelled tools by category",
        "",
        *category_table(everything),
        "",
        "### Flags (tools whose flags are labelled: the corpus and the hand-labelled file)",
        "",
        *flag_table(
            measure(
                [row for name, rows in sets.items() if name != "shared dev set" for row in rows]
            )
        ),
        "",
        "### Two labellers on 300 random corpus tools (tests/classifier/agreement/)",
        "",
        *agreement_table(),
        "",
        "### Disagreements on the corpus's dev servers",
        "",
        "The held-out servers' disagreements are never printed: whoever writes rules next",
        "must not see them.",
        "",
        *disagreement_table(measured["corpus dev"]),
        "",
    ]
    return lines, met


def _write_docs(lines: list[str]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    before, found, rest = text.partition(START)
    _, found_end, after = rest.partition(END)
    if not found or not found_end:
        raise SystemExit(f"{DOCS}: no {START} ... {END} section to rewrite")
    DOCS.write_text(before + START + "\n" + "\n".join(lines) + "\n" + END + after)


def main(argv: list[str] | None = None) -> int:
    """Print the report; with --write-docs, also put it into docs/classifier.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    lines, met = report()
    print("\n".join(lines))
    if args.write_docs:
        _write_docs(lines)
    flags = ", ".join(flag.value for flag in Flag)
    print(f"flags reported: {flags}", file=sys.stderr)
    print("all targets met" if met else "TARGETS MISSED", file=sys.stderr)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
