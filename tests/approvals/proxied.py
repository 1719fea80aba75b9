"""Running `callgate run` for the approval end-to-end tests: paths, the operator CLI, prompts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData, TextContent

from callgate.approvals.model import Approval, Status
from callgate.audit import read_records
from callgate.state.approvals_sqlite import SqliteApprovalStore
from tests.fixtures.servers.commands import CALLGATE, SDK_SERVER

POLICY = """\
version: "1"
default: allow
approvals:
  mode: {mode}
  timeout: 120
tools:
  charge:
    rules:
      - name: big-charges-need-a-human
        action: require_approval
        conditions:
          - path: args.amount
            op: gt
            value: 100
"""


class Setup:
    """Paths and the command line of one proxy run."""

    def __init__(
        self, tmp_path: Path, mode: str, state_url: str | None = None, policy: str = POLICY
    ) -> None:
        self.policy = tmp_path / "policy.yaml"
        self.policy.write_text(policy.format(mode=mode))
        self.state = tmp_path / "state.db"
        self.audit = tmp_path / "audit"
        self.env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
        self.state_url = state_url or f"sqlite:///{self.state}"

    def command(self) -> list[str]:
        return [
            *CALLGATE, "run", "-c", str(self.policy), "--state", self.state_url,
            "--audit", str(self.audit), "--agent", "billing-bot", "--", *SDK_SERVER,
        ]  # fmt: skip

    def audit_events(self) -> list[dict[str, Any]]:
        return [record for record in read_records(self.audit) if "event" in record]


def text_of(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


async def operator(setup: Setup, *args: str) -> str:
    """Run `callgate approvals ARGS --state ...` as its own process; its stdout."""
    done = await anyio.run_process(
        [sys.executable, "-m", "callgate", "approvals", *args, "--state", setup.state_url],
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def next_pending(setup: Setup) -> Approval:
    """The first pending request in the proxy's store, once there is one."""
    while not setup.state.exists():
        await anyio.sleep(0.02)
    store = SqliteApprovalStore(setup.state)
    try:
        while not (pending := await store.list({Status.REQUESTED})):
            await anyio.sleep(0.02)
        return pending[0]
    finally:
        await store.aclose()


class Prompter:
    """An elicitation callback answering every prompt with `action`."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.prompts: list[ElicitRequestParams] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        self.prompts.append(params)
        content = {"note": "fine by me"} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]
