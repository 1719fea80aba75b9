"""Shared pieces of the interop tests: callgate command lines and result readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult, TextContent

from callgate.audit import read_records
from tests.fixtures.node import NodePeers
from tests.fixtures.peers import CALLGATE, ROOT


def callgate_stdio(policy: Path, state_dir: Path, upstream: list[str]) -> list[str]:
    """`callgate run` over stdio in front of the child `upstream`, with its own state and audit."""
    return [
        *CALLGATE,
        "run",
        "-c",
        str(policy),
        "--state",
        f"sqlite:///{state_dir}/state.db",
        "--audit",
        str(state_dir / "audit"),
        "--",
        *upstream,
    ]


def stdio_params(node_peers: NodePeers, command: list[str]) -> StdioServerParameters:
    """SDK client parameters that start `command` from the repository root with Node 22."""
    return StdioServerParameters(
        command=command[0], args=command[1:], env=node_peers.env(), cwd=ROOT
    )


def text_of(result: CallToolResult) -> str:
    """The text of a tool result's first content block."""
    block = result.content[0]
    assert isinstance(block, TextContent), result
    return block.text


def audit_records(state_dir: Path) -> list[dict[str, Any]]:
    """The audit log callgate wrote under `state_dir`."""
    path = state_dir / "audit"
    return read_records(path) if path.exists() else []
