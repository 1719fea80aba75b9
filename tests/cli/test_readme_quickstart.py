"""The README's quick start, run as written, so it cannot rot.

The commands are read from README.md's quick start block; `.venv/bin/` is this test run's
own interpreter's folder (the dev extras install `mcp-server-time` there, which is what
the block's step 0 installs). Every step runs as a real process; the last one, the line an
MCP client runs, is started by the official SDK client over stdio.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def quick_start_lines() -> list[str]:
    """The quick start's shell lines, comments dropped, `.venv/bin/` made this venv's."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("The quick start puts callgate", 1)[1].split("```sh", 1)[1]
    block = block.split("```", 1)[0]
    lines = []
    for raw in block.splitlines():
        line = raw.split("   #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line.replace(".venv/bin/", f"{BIN}/"))
    return lines


def quick_start() -> list[list[str]]:
    """The quick start's commands, split as the shell splits them."""
    return [shlex.split(line) for line in quick_start_lines()]


def _verb(command: list[str]) -> str:
    if "pip" in command[0]:
        return "pip"
    if Path(command[0]).name == "callgate":
        return command[1] + (" --check" if "--check" in command else "")
    return Path(command[0]).name


def test_the_quick_start_block_is_what_this_test_runs() -> None:
    verbs = [_verb(command) for command in quick_start()]

    assert verbs == [
        "pip",
        "scan",
        "classify",
        "catalog",
        "validate",
        "test",
        "explain",
        "pin",
        "printf",
        "pin --check",
        "run",
    ]


async def test_every_quick_start_step_works_against_the_real_time_server(tmp_path: Path) -> None:
    *steps, run = quick_start()
    assert (BIN / "mcp-server-time").exists(), "the dev extras install mcp-server-time"
    for line in quick_start_lines()[:-1]:
        if "pip" in shlex.split(line)[0]:
            continue  # step 0: the dev extras already installed it in this venv
        # As a user runs it: through the shell (one step appends to the policy with >>).
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
    assert (tmp_path / "time.yaml").exists()
    assert (tmp_path / "time-catalog" / "index.html").exists()
    assert (tmp_path / "callgate.lock").exists()
    assert "integrity:" in (tmp_path / "time.yaml").read_text(encoding="utf-8")

    [explain] = [command for command in steps if command[1:2] == ["explain"]]
    explained_tool = explain[explain.index("--tool") + 1]
    explained_args = json.loads(explain[explain.index("--args") + 1])
    params = StdioServerParameters(
        command=run[0], args=run[1:], cwd=str(tmp_path), env=dict(os.environ)
    )
    with anyio.fail_after(90):
        async with Client(params) as client:
            listed = await client.list_tools()
            answer = await client.call_tool("get_current_time", {"timezone": "Etc/UTC"})
            # The call step 4 explains is one the scanned policy lets through for real
            # (its arguments pass the server's input schema).
            explained = await client.call_tool(explained_tool, explained_args)
    assert {tool.name for tool in listed.tools} == {"get_current_time", "convert_time"}
    assert not answer.is_error
    text = answer.content[0].text  # type: ignore[union-attr]
    assert json.loads(text)["timezone"] == "Etc/UTC"
    assert not explained.is_error, explained.content
