"""`callgate run -- CMD` judges calls by the tools' risk flags: the official SDK client ->
a real callgate process -> the SDK fixture server.

Pinned flags (a tool entry's `flags:`) make the outcome independent of the classifier;
for a tool whose flags come from the classifier, the expected decision is worked out from
whatever `classify_tool` says about the definition the client was shown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from callgate.classifier import Flag, classify_tool
from tests.e2e.support import text_of
from tests.fixtures.servers.commands import SDK_SERVER, callgate_run, stdio_params

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# money asks a person; every other flag denies, naming itself.
FLAG_ENTRIES = "\n".join(
    f"  {flag.value}:\n    rules:\n      - {{name: no-{flag.value}, action: deny}}"
    if flag is not Flag.MONEY
    else "  money:\n    rules:\n      - {name: money-needs-a-human, action: require_approval}"
    for flag in Flag
)
POLICY = f"""\
version: "1"
default: allow
approvals: {{mode: retry, approvers: [operator]}}
tools:
  read_env:
    flags: [credentials]
  charge:
    flags: [money]
  echo:
    flags: []
flags:
{FLAG_ENTRIES}
"""


def decision_of(result: CallToolResult) -> tuple[str, str | None]:
    """The verdict and rule callgate put in the result's `_meta` (allow: none there)."""
    found = (result.meta or {}).get("callgate/decision")
    return ("allow", None) if found is None else (found["verdict"], found["rule"])


def expected_for(flags: tuple[Flag, ...]) -> tuple[str, str | None]:
    """What POLICY decides for an unpinned tool with these flags: entries run in file
    (enum) order, a deny wins over an approval."""
    denying = [flag for flag in Flag if flag in flags and flag is not Flag.MONEY]
    if denying:
        return "deny", f"no-{denying[0].value}"
    if Flag.MONEY in flags:
        return "approval_required", "money-needs-a-human"
    return "allow", None


def definition(listing: Any, name: str) -> dict[str, Any]:
    tool = next(tool for tool in listing.tools if tool.name == name)
    dumped: dict[str, Any] = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_flagged_tool_is_denied_or_held_and_an_unflagged_one_passes(
    mode: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    # A state file, so that the approval is recorded where an operator could answer it.
    state = ("--state", f"sqlite:///{tmp_path / 'state.db'}")
    command = callgate_run(policy, tmp_path / "audit.jsonl", SDK_SERVER, *state)
    with anyio.fail_after(60):
        async with Client(stdio_params(command, env), mode=mode) as client:
            listing = await client.list_tools()
            credentials = await client.call_tool("read_env", {"name": "HOME"})
            money = await client.call_tool("charge", {"amount": 5})
            plain = await client.call_tool("echo", {"text": "hi"})
            derived = await client.call_tool("add", {"a": 1, "b": 2})

    assert decision_of(credentials) == ("deny", "no-credentials")
    assert credentials.is_error
    assert decision_of(money) == ("approval_required", "money-needs-a-human")
    assert "an operator must approve it" in text_of(money)
    assert (plain.is_error, text_of(plain), decision_of(plain)) == (False, "hi", ("allow", None))

    expected = expected_for(classify_tool(definition(listing, "add")).flags)
    assert decision_of(derived) == expected
    if expected[0] == "allow":
        assert text_of(derived) == "3"
