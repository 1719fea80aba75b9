"""The Node peers themselves work before callgate is put between them."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.fixtures.node import NodePeers

pytestmark = [pytest.mark.node, pytest.mark.anyio]


async def test_node_peers_run_node_22(node_peers: NodePeers) -> None:
    result = await anyio.run_process([str(node_peers.node), "--version"])
    assert result.stdout.decode().startswith("v22.")


async def test_inspector_cli_lists_server_everything_tools_directly(
    node_peers: NodePeers, tmp_path: Path
) -> None:
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [*node_peers.inspector_cli(*node_peers.server_everything()), "--method", "tools/list"],
            env=node_peers.inspector_env(tmp_path),
        )
    names = {tool["name"] for tool in json.loads(result.stdout)["tools"]}
    assert {"echo", "get-sum"} <= names
