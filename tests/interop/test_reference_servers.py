"""The npm reference servers behind callgate over stdio, with the official SDK client.

`server-everything` and `server-filesystem` run on Node 22 as callgate's child process;
the agent sees the same tools as without callgate (less the hidden ones), allowed calls
reach the server, and denied calls come back as `isError` results naming the rule.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp.client import Client

from tests.fixtures.node import NodePeers
from tests.interop.support import audit_records, callgate_stdio, stdio_params, text_of

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.anyio]

MODES = ["auto", "legacy"]

EVERYTHING_POLICY = """\
version: "1"
default: allow
hide: [get-env]
tools:
  get-sum:
    rules:
      - name: "small-sums"
        on_deny: "sums are limited to operands below 1000"
        conditions:
          - {path: args.a, op: lt, value: 1000}
"""

FILESYSTEM_POLICY = """\
version: "1"
default: allow
tools:
  read_text_file:
    rules:
      - name: "public-only"
        on_deny: "only files under public/ may be read"
        conditions:
          - {path: args.path, op: path_within, value: "ROOT/public"}
  write_file:
    rules:
      - name: "no-writes"
        action: deny
        on_deny: "this agent reads only"
"""


async def tool_names(params_command: list[str], node_peers: NodePeers, mode: str) -> set[str]:
    """The tool names an SDK client sees at the end of `params_command`."""
    async with Client(stdio_params(node_peers, params_command), mode=mode) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize("mode", MODES)
async def test_server_everything_behind_callgate_lists_its_tools_less_the_hidden(
    node_peers: NodePeers, tmp_path: Path, mode: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(EVERYTHING_POLICY)
    with anyio.fail_after(60):
        direct = await tool_names(node_peers.server_everything(), node_peers, mode)
        proxied = await tool_names(
            callgate_stdio(policy, tmp_path, node_peers.server_everything()), node_peers, mode
        )
    assert {"echo", "get-sum", "get-env"} <= direct
    assert proxied == direct - {"get-env"}


@pytest.mark.parametrize("mode", MODES)
async def test_server_everything_call_is_allowed_or_denied_by_rule(
    node_peers: NodePeers, tmp_path: Path, mode: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(EVERYTHING_POLICY)
    command = callgate_stdio(policy, tmp_path, node_peers.server_everything())
    with anyio.fail_after(60):
        async with Client(stdio_params(node_peers, command), mode=mode) as client:
            allowed = await client.call_tool("get-sum", {"a": 2, "b": 3})
            denied = await client.call_tool("get-sum", {"a": 5000, "b": 3})
            echoed = await client.call_tool("echo", {"message": "through callgate"})
    assert not allowed.is_error
    assert text_of(allowed) == "The sum of 2 and 3 is 5."
    assert denied.is_error
    assert text_of(denied) == (
        '[callgate] denied by rule "small-sums": sums are limited to operands below 1000'
    )
    assert text_of(echoed) == "Echo: through callgate"
    decisions = [(r["tool"], r["decision"], r["rule"]) for r in audit_records(tmp_path)]
    assert decisions == [
        ("get-sum", "allow", None),
        ("get-sum", "deny", "small-sums"),
        ("echo", "allow", None),
    ]


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """A folder server-filesystem may serve: public/ and private/ files."""
    root = tmp_path / "files"
    (root / "public").mkdir(parents=True)
    (root / "private").mkdir()
    (root / "public" / "notes.txt").write_text("public notes")
    (root / "private" / "secret.txt").write_text("private secret")
    return root.resolve()


async def test_server_filesystem_behind_callgate_lists_the_same_tools(
    node_peers: NodePeers, tmp_path: Path, shared_dir: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(FILESYSTEM_POLICY.replace("ROOT", str(shared_dir)))
    server = node_peers.server_filesystem(shared_dir)
    with anyio.fail_after(60):
        direct = await tool_names(server, node_peers, "legacy")
        proxied = await tool_names(callgate_stdio(policy, tmp_path, server), node_peers, "legacy")
    assert {"read_text_file", "write_file", "list_directory"} <= direct
    assert proxied == direct


async def test_server_filesystem_path_within_rule_guards_what_the_server_would_serve(
    node_peers: NodePeers, tmp_path: Path, shared_dir: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(FILESYSTEM_POLICY.replace("ROOT", str(shared_dir)))
    server = node_peers.server_filesystem(shared_dir)
    secret = str(shared_dir / "private" / "secret.txt")
    escape = str(shared_dir / "public" / ".." / "private" / "secret.txt")
    with anyio.fail_after(60):
        async with Client(stdio_params(node_peers, server), mode="legacy") as client:
            direct = await client.call_tool("read_text_file", {"path": secret})
        command = callgate_stdio(policy, tmp_path, server)
        async with Client(stdio_params(node_peers, command), mode="legacy") as client:
            public = await client.call_tool(
                "read_text_file", {"path": str(shared_dir / "public" / "notes.txt")}
            )
            private = await client.call_tool("read_text_file", {"path": secret})
            dotdot = await client.call_tool("read_text_file", {"path": escape})
            write = await client.call_tool(
                "write_file", {"path": str(shared_dir / "public" / "new.txt"), "content": "x"}
            )
    assert text_of(direct) == "private secret", "without callgate the server serves it"
    assert text_of(public) == "public notes"
    for denied in (private, dotdot):
        assert denied.is_error
        assert text_of(denied).startswith('[callgate] denied by rule "public-only"')
    assert write.is_error
    assert text_of(write) == '[callgate] denied by rule "no-writes": this agent reads only'
    assert not (shared_dir / "public" / "new.txt").exists()
