"""The MCP Inspector CLI as a second real client, through callgate over stdio and HTTP.

The Inspector (the TypeScript SDK's client) lists tools and calls them with callgate in
front of `server-everything`: the hidden tool is gone, an allowed call returns the
server's answer, and a denied call comes back as the `isError` result naming the rule.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.node import NodePeers
from tests.fixtures.peers import callgate_listener
from tests.interop.support import callgate_stdio
from tests.interop.test_reference_servers import EVERYTHING_POLICY

pytestmark = [pytest.mark.node, pytest.mark.slow]

TRANSPORTS = ["stdio", "http"]
INSPECTOR_TIMEOUT = 90


@contextmanager
def inspector_target(transport: str, node_peers: NodePeers, tmp_path: Path) -> Iterator[list[str]]:
    """The Inspector's target arguments for callgate in front of server-everything."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(EVERYTHING_POLICY)
    if transport == "stdio":
        yield callgate_stdio(policy, tmp_path, node_peers.server_everything())
        return
    state = ("--state", f"sqlite:///{tmp_path}/state.db", "--audit", str(tmp_path / "audit.jsonl"))
    upstream = node_peers.server_everything()
    with callgate_listener(policy, upstream, tmp_path / "callgate.log", *state) as url:
        yield [url, "--transport", "http"]


def inspect(
    node_peers: NodePeers, tmp_path: Path, target: list[str], *args: str
) -> tuple[int, Any]:
    """Run the Inspector CLI once: its exit status (non-zero on an isError result) and answer."""
    completed = subprocess.run(
        node_peers.inspector_cli(*target, *args),
        env=node_peers.inspector_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=INSPECTOR_TIMEOUT,
        check=False,
    )
    assert completed.stdout.strip(), f"no answer (exit {completed.returncode}):\n{completed.stderr}"
    return completed.returncode, json.loads(completed.stdout)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_inspector_lists_tools_through_callgate_without_the_hidden_one(
    transport: str, node_peers: NodePeers, tmp_path: Path
) -> None:
    with inspector_target(transport, node_peers, tmp_path) as target:
        status, listed = inspect(node_peers, tmp_path, target, "--method", "tools/list")
    assert status == 0
    names = {tool["name"] for tool in listed["tools"]}
    assert {"echo", "get-sum", "get-tiny-image"} <= names
    assert "get-env" not in names


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_inspector_calls_are_allowed_or_denied_through_callgate(
    transport: str, node_peers: NodePeers, tmp_path: Path
) -> None:
    call = ("--method", "tools/call", "--tool-name", "get-sum", "--tool-arg")
    with inspector_target(transport, node_peers, tmp_path) as target:
        allowed_status, allowed = inspect(node_peers, tmp_path, target, *call, "a=2", "b=3")
        denied_status, denied = inspect(node_peers, tmp_path, target, *call, "a=5000", "b=3")
    assert allowed_status == 0
    assert allowed["content"][0]["text"] == "The sum of 2 and 3 is 5."
    assert denied_status != 0, "the Inspector reports an isError result by its exit status"
    assert denied["isError"] is True
    assert denied["content"][0]["text"] == (
        '[callgate] denied by rule "small-sums": sums are limited to operands below 1000'
    )
    assert denied["_meta"]["callgate/decision"]["rule"] == "small-sums"
