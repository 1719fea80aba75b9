"""Running the MCP conformance suite's server scenarios and reading what it found."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from tests.fixtures.node import NodePeers

SPEC_VERSIONS = ("2025-11-25", "2026-07-28")
SUITE_TIMEOUT = 300
# Result folders are named `server-<scenario>-<ISO timestamp>`.
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One scenario's checks, by status."""

    name: str
    statuses: tuple[str, ...]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """At least one check succeeded and none failed."""
        return "SUCCESS" in self.statuses and "FAILURE" not in self.statuses


@dataclass(frozen=True, slots=True)
class SuiteRun:
    """Every scenario of one run of `conformance server`."""

    scenarios: dict[str, ScenarioResult]
    output: str

    @property
    def passing(self) -> set[str]:
        """The names of the scenarios that passed."""
        return {name for name, result in self.scenarios.items() if result.passed}

    def explain(self, names: set[str]) -> str:
        """The failed checks of `names`, for an assertion message."""
        lines = []
        for name in sorted(names):
            result = self.scenarios.get(name)
            detail = "; ".join(result.failures) if result else "did not run"
            lines.append(f"{name}: {detail}")
        return "\n".join(lines)


def required_scenarios(node_peers: NodePeers, version: str) -> set[str]:
    """The server scenarios the suite scores for spec `version`."""
    package = node_peers.script("conformance").parents[1]
    data = YAML(typ="safe").load(package / "requirements" / f"{version}.yaml")
    return set(data["server"])


def read_results(output_dir: Path) -> dict[str, ScenarioResult]:
    """Every scenario's checks.json under `output_dir`."""
    results: dict[str, ScenarioResult] = {}
    for folder in sorted(output_dir.iterdir()):
        match = RESULT_DIR.match(folder.name)
        checks_file = folder / "checks.json"
        if match is None or not checks_file.exists():
            continue
        checks = json.loads(checks_file.read_text())
        results[match["scenario"]] = ScenarioResult(
            name=match["scenario"],
            statuses=tuple(check["status"] for check in checks),
            failures=tuple(
                f"{check['id']}: {check.get('errorMessage', '')}"[:300]
                for check in checks
                if check["status"] == "FAILURE"
            ),
        )
    return results


def run_suite(node_peers: NodePeers, url: str, version: str, output_dir: Path) -> SuiteRun:
    """Run every server scenario spec `version` requires (and the ones it only reports)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    command = node_peers.conformance(
        "server", "--url", url, "--requirements", version, "-o", str(output_dir)
    )
    completed = subprocess.run(
        command,
        env=node_peers.env(),
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )
    output = completed.stdout + completed.stderr
    scenarios = read_results(output_dir)
    assert scenarios, f"the conformance suite wrote no results:\n{output[-3000:]}"
    return SuiteRun(scenarios=scenarios, output=output)
