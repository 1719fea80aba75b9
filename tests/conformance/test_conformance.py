"""The MCP conformance suite's server scenarios, directly and through callgate.

The fixture server is written with the official SDK; every scenario it passes when the
suite talks to it directly must also pass when callgate's HTTP listener stands between
them, for both spec versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.support import SPEC_VERSIONS, SuiteRun, required_scenarios, run_suite
from tests.fixtures.node import NodePeers
from tests.fixtures.peers import CONFORMANCE_SERVER, callgate_listener, conformance_server

pytestmark = [pytest.mark.node, pytest.mark.slow]

# Scenarios about the upstream's own HTTP transport: only a server that closes its SSE
# stream mid-call can pass them, and a stdio upstream has no stream to close.
UPSTREAM_HTTP_SCENARIOS = {"server-sse-polling"}

# Allows everything the scenarios call, yet makes callgate judge every call: rules with
# conditions and a rate limit that never fires, on the very tools the suite uses.
POLICY = """\
version: "1"
default: allow
tools:
  test_simple_text:
    rules:
      - name: "plenty-of-text"
        rate_limit: 10000/minute
  test_sampling:
    rules:
      - name: "short-prompts"
        on_deny: "prompts are limited to 2000 characters"
        conditions:
          - {path: args.prompt, op: length_lte, value: 2000}
  test_elicitation:
    rules:
      - name: "plain-messages"
        on_deny: "messages must not carry markup"
        conditions:
          - {path: args.message, op: not_regex, value: "<script"}
  "*":
    rules:
      - name: "global-budget"
        rate_limit: 100000/minute
"""


@pytest.fixture(scope="module")
def upstream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The conformance fixture server, shared by every run in this module."""
    log = tmp_path_factory.mktemp("conformance-server") / "stderr.log"
    with conformance_server(log) as url:
        yield url


class DirectRuns:
    """The suite against the fixture server directly, run once per spec version on demand
    (a parallel worker runs only the versions of the tests it was given)."""

    def __init__(
        self, node_peers: NodePeers, request: pytest.FixtureRequest, factory: pytest.TempPathFactory
    ) -> None:
        self._node_peers = node_peers
        self._request = request
        self._factory = factory
        self._runs: dict[str, SuiteRun] = {}

    def __getitem__(self, version: str) -> SuiteRun:
        if version not in self._runs:
            url: str = self._request.getfixturevalue("upstream_url")
            output = self._factory.mktemp(f"direct-{version}")
            self._runs[version] = run_suite(self._node_peers, url, version, output)
        return self._runs[version]


@pytest.fixture(scope="module")
def direct_runs(
    node_peers: NodePeers, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> DirectRuns:
    """The suite against the fixture server directly, once per spec version."""
    return DirectRuns(node_peers, request, tmp_path_factory)


@pytest.mark.parametrize("version", SPEC_VERSIONS)
def test_fixture_server_passes_every_required_scenario_directly(
    version: str, node_peers: NodePeers, direct_runs: DirectRuns
) -> None:
    run = direct_runs[version]
    required = required_scenarios(node_peers, version)
    assert len(required) >= 30
    missing = required - run.passing
    assert not missing, f"failing directly:\n{run.explain(missing)}"


def run_through_callgate(
    node_peers: NodePeers, upstream: str | list[str], version: str, tmp_path: Path
) -> SuiteRun:
    """The suite against `callgate run --listen` in front of `upstream` (a URL or a command)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    files = ("--audit", str(tmp_path / "audit.jsonl"), "--state", f"sqlite:///{tmp_path}/state.db")
    with callgate_listener(policy, upstream, tmp_path / "callgate.log", *files) as url:
        return run_suite(node_peers, url, version, tmp_path / "results")


@pytest.mark.parametrize("version", SPEC_VERSIONS)
def test_scenarios_passing_directly_pass_through_callgate_http(
    version: str,
    node_peers: NodePeers,
    upstream_url: str,
    direct_runs: DirectRuns,
    tmp_path: Path,
) -> None:
    direct = direct_runs[version].passing
    assert len(direct) >= 30, "the direct run is the baseline; it must cover the suite"
    through = run_through_callgate(node_peers, upstream_url, version, tmp_path)
    lost = direct - through.passing
    assert not lost, f"pass directly but fail through callgate:\n{through.explain(lost)}"


@pytest.mark.parametrize("version", SPEC_VERSIONS)
def test_scenarios_passing_directly_pass_through_callgate_http_in_front_of_a_stdio_child(
    version: str, node_peers: NodePeers, direct_runs: DirectRuns, tmp_path: Path
) -> None:
    direct = direct_runs[version].passing - UPSTREAM_HTTP_SCENARIOS
    child = [*CONFORMANCE_SERVER, "--stdio"]
    through = run_through_callgate(node_peers, child, version, tmp_path)
    lost = direct - through.passing
    assert not lost, f"pass directly but fail through callgate:\n{through.explain(lost)}"
