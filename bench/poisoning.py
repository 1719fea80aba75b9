"""How well the poisoning scan finds poisoned tools, and how rarely it flags clean ones.

Run: `.venv/bin/python bench/poisoning.py [--json FILE]`

Poisoned: `tests/integrity/corpus/poisoned.jsonl`, definitions reconstructed from the
published write-ups and benchmarks (each row cites its source). A row is detected when
the scan reports a finding of the row's kind (`scan_tool` for a single definition,
`scan_servers` for a row of several servers).

Clean: every real tool the classifier corpus recorded (`tests/classifier/corpus/*/*.json`,
tools exactly as their servers sent them) and `tests/classifier/other_servers.jsonl`. A
clean tool is a false positive when the scan reports anything at all.

Both sets are split before any rule was written: clean servers by a hash of the server's
name, poisoned rows by a hash of their id, a third held out each. Rules were tuned on the
dev parts only. Exits 1 when a target is missed on the held-out parts: detection >= 0.95,
false positives <= 1% on at least 1,000 clean tools, 5,000 tools scanned in under a second.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callgate.integrity.poisoning import Finding, scan_servers, scan_tool

ROOT = Path(__file__).resolve().parent.parent
POISONED = ROOT / "tests" / "integrity" / "corpus" / "poisoned.jsonl"
CLEAN_CORPUS = ROOT / "tests" / "classifier" / "corpus"
CLEAN_OTHERS = ROOT / "tests" / "classifier" / "other_servers.jsonl"
DETECTION_GOAL = 0.95
FALSE_POSITIVE_GOAL = 0.01
CLEAN_MINIMUM = 1_000
SPEED_TOOLS = 5_000
SPEED_GOAL_S = 1.0


def held_out(key: str) -> bool:
    """One key in three is held out, by a hash fixed before any rule was written."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 3 == 0


def split_name(key: str) -> str:
    """`held-out` or `dev`."""
    return "held-out" if held_out(key) else "dev"


@dataclass(frozen=True, slots=True)
class CleanTool:
    """A real tool from a real server."""

    server: str
    definition: Mapping[str, Any]


def load_clean() -> list[CleanTool]:
    """Every clean tool: the corpus listings, then the hand-labelled other servers."""
    tools: list[CleanTool] = []
    for path in sorted(CLEAN_CORPUS.glob("*/*.json")):
        listing = json.loads(path.read_text(encoding="utf-8"))
        server = str(listing.get("server") or path.stem)
        tools += [CleanTool(server, tool) for tool in listing["tools"]]
    for line in CLEAN_OTHERS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            # Each row comes from a different server; the row's tool name keys its split.
            tools.append(
                CleanTool(
                    f"other:{row['name']}",
                    {"name": row["name"], "description": row.get("description", "")},
                )
            )
    return tools


def load_poisoned() -> list[dict[str, Any]]:
    """Every poisoned row."""
    return [
        json.loads(line)
        for line in POISONED.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def findings_of_row(row: Mapping[str, Any]) -> list[Finding]:
    """What the scan reports for a poisoned row."""
    if "servers" in row:
        return scan_servers(row["servers"])
    return scan_tool(row["tool"])


def detected(row: Mapping[str, Any]) -> bool:
    """Whether the scan reports a finding of the row's kind."""
    return any(finding.kind.value == row["kind"] for finding in findings_of_row(row))


@dataclass(slots=True)
class Figures:
    """Every figure the benchmark prints, by split."""

    detection: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    clean: dict[str, tuple[int, int]] = field(default_factory=dict)
    flagged_by_rule: dict[str, Counter[str]] = field(default_factory=dict)
    missed: dict[str, list[str]] = field(default_factory=dict)
    seconds_for_speed: float = 0.0

    def detection_rate(self, split: str, kind: str = "all") -> float:
        """Detected / rows, for a split and a kind."""
        found, total = self.detection[split][kind]
        return found / total if total else 0.0

    def false_positive_rate(self, split: str) -> float:
        """Flagged / clean tools, for a split."""
        flagged, total = self.clean[split]
        return flagged / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "detection": {
                split: {kind: list(pair) for kind, pair in kinds.items()}
                for split, kinds in self.detection.items()
            },
            "clean": {split: list(pair) for split, pair in self.clean.items()},
            "flagged_by_rule": {s: dict(c) for s, c in self.flagged_by_rule.items()},
            "missed": self.missed,
            "seconds_for_speed": self.seconds_for_speed,
            "speed_tools": SPEED_TOOLS,
        }


def measure() -> Figures:
    """Scan both corpora and count."""
    figures = Figures()
    for row in load_poisoned():
        split = split_name(row["id"])
        kinds = figures.detection.setdefault(split, {})
        hit = detected(row)
        for kind in (row["kind"], "all"):
            found, total = kinds.get(kind, (0, 0))
            kinds[kind] = (found + hit, total + 1)
        if not hit:
            figures.missed.setdefault(split, []).append(row["id"])
    clean = load_clean()
    for tool in clean:
        split = split_name(tool.server)
        findings = scan_tool(tool.definition)
        flagged, total = figures.clean.get(split, (0, 0))
        figures.clean[split] = (flagged + bool(findings), total + 1)
        counter = figures.flagged_by_rule.setdefault(split, Counter())
        counter.update({finding.rule for finding in findings})
    definitions = [
        tool.definition for tool in itertools.islice(itertools.cycle(clean), SPEED_TOOLS)
    ]
    started = time.perf_counter()
    for definition in definitions:
        scan_tool(definition)
    figures.seconds_for_speed = time.perf_counter() - started
    return figures


def targets_missed(figures: Figures) -> list[str]:
    """What the held-out parts (and the speed) fail, in words; empty when all are met."""
    missed: list[str] = []
    if figures.detection_rate("held-out") < DETECTION_GOAL:
        missed.append(
            f"held-out detection {figures.detection_rate('held-out'):.3f} < {DETECTION_GOAL}"
        )
    for split in ("dev", "held-out"):
        if figures.false_positive_rate(split) > FALSE_POSITIVE_GOAL:
            missed.append(
                f"{split} false positives {figures.false_positive_rate(split):.4f} > 0.01"
            )
    if sum(total for _, total in figures.clean.values()) < CLEAN_MINIMUM:
        missed.append(f"fewer than {CLEAN_MINIMUM} clean tools")
    if figures.seconds_for_speed >= SPEED_GOAL_S:
        missed.append(f"{SPEED_TOOLS} tools took {figures.seconds_for_speed:.2f} s")
    return missed


def render(figures: Figures) -> str:
    """The table the script prints."""
    splits = ("dev", "held-out")
    kinds = sorted(
        {kind for split in splits for kind in figures.detection.get(split, {})} - {"all"}
    )
    lines = [
        "poisoned tools detected (a finding of the row's kind)",
        f"{'kind':<22}" + "".join(f"{split:>22}" for split in splits),
    ]
    for kind in [*kinds, "all"]:
        cells = []
        for split in splits:
            found, total = figures.detection.get(split, {}).get(kind, (0, 0))
            rate = found / total if total else 0.0
            cells.append(f"{found:>4}/{total:<4} {rate:>6.3f}")
        lines.append(f"{kind:<22}" + "".join(f"{cell:>22}" for cell in cells))
    lines += ["", "clean real tools flagged (any finding)"]
    for split in splits:
        flagged, total = figures.clean.get(split, (0, 0))
        rate = flagged / total if total else 0.0
        rules = ", ".join(
            f"{r} {n}" for r, n in figures.flagged_by_rule.get(split, Counter()).most_common()
        )
        lines.append(f"{split:<22}{flagged:>4}/{total:<5} {rate:>7.4f}   {rules}")
    lines += [
        "",
        f"speed: {SPEED_TOOLS} clean tools scanned in {figures.seconds_for_speed * 1000:.0f} ms",
        f"targets (held-out): detection >= {DETECTION_GOAL}, false positives <= "
        f"{FALSE_POSITIVE_GOAL:.0%} on >= {CLEAN_MINIMUM} clean tools, {SPEED_TOOLS} tools "
        f"< {SPEED_GOAL_S:.0f} s",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print, and exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure()
    print(render(figures))
    if args.json is not None:
        args.json.write_text(json.dumps(figures.to_dict(), indent=2), encoding="utf-8")
    missed = targets_missed(figures)
    for line in missed:
        print(f"target missed: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
