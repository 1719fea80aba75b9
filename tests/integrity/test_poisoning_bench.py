"""The figures `bench/poisoning.py` prints, held as floors, and the corpus kept honest.

The benchmark's own measuring code runs here (without its timing, which a test is no
place to judge): detection on the poisoned rows and false positives on the clean real
tools, per split. The floors are the figures when the scan was written; a change that
loses detection or flags more clean tools fails here.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "hidden_instruction",
    "invisible_unicode",
    "sensitive_parameter",
    "confusable_name",
    "shadowing",
}


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_poisoning", ROOT / "bench" / "poisoning.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench()


@pytest.fixture(scope="module")
def figures(bench: ModuleType) -> object:
    return bench.measure()


def test_held_out_detection_meets_the_target(figures: object, bench: ModuleType) -> None:
    assert figures.detection_rate("held-out") >= bench.DETECTION_GOAL  # type: ignore[attr-defined]
    assert figures.detection_rate("dev") >= 0.99  # type: ignore[attr-defined]


def test_false_positives_stay_under_one_percent_on_both_splits(figures: object) -> None:
    clean = figures.clean  # type: ignore[attr-defined]
    assert sum(total for _, total in clean.values()) >= 1_000
    assert clean["dev"][0] <= 1
    assert clean["held-out"][0] <= 12
    for split in ("dev", "held-out"):
        assert figures.false_positive_rate(split) <= 0.01  # type: ignore[attr-defined]


def test_every_kind_is_detected_on_both_splits(figures: object) -> None:
    detection = figures.detection  # type: ignore[attr-defined]
    for split in ("dev", "held-out"):
        assert set(detection[split]) - {"all"} == KINDS
        for kind in KINDS:
            found, total = detection[split][kind]
            assert found / total >= 0.85, (split, kind)


def test_the_poisoned_corpus_is_large_labelled_and_sourced(bench: ModuleType) -> None:
    rows = bench.load_poisoned()
    assert len(rows) >= 150
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert row["kind"] in KINDS
        assert row["source"].strip()
        assert ("tool" in row) != ("servers" in row)
    held = [row for row in rows if bench.held_out(row["id"])]
    assert 0.25 <= len(held) / len(rows) <= 0.42


def test_the_clean_split_is_by_server(bench: ModuleType) -> None:
    tools = bench.load_clean()
    servers = {tool.server for tool in tools}
    held = {server for server in servers if bench.held_out(server)}
    assert 0.25 <= len(held) / len(servers) <= 0.42
    assert len(tools) >= 3_000


def test_the_report_names_every_split_and_the_speed(figures: object, bench: ModuleType) -> None:
    text = bench.render(figures)
    assert "held-out" in text and "dev" in text and "speed:" in text
    json.dumps(figures.to_dict())  # type: ignore[attr-defined]
