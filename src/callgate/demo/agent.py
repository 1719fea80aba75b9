"""The demo's scripted agent: the official `mcp` SDK client, talking to a real
`callgate run` process in front of the example server, making calls that show each kind
of decision. It prints one table row per call and checks each decision is the expected
one (exit status 1 if not), so the demo doubles as a smoke test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import CallToolResult, TextContent
from rich.console import Console
from rich.table import Table
from rich.text import Text

META_KEY = "callgate/decision"


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted call and the decision the example policy should give it."""

    intent: str
    tool: str
    arguments: dict[str, Any]
    expected: str


STEPS: tuple[Step, ...] = (
    Step("read a record", "read_record", {"record_id": "r-1"}, "allow"),
    Step("archive a record", "write_record", {"record_id": "r-1", "status": "archived"}, "allow"),
    Step("run a safe command", "run_command", {"command": "ls"}, "allow"),
    Step("run a dangerous command", "run_command", {"command": "rm -rf /"}, "deny"),
    Step("delete a record", "delete_record", {"record_id": "r-2"}, "deny"),
    Step("call a hidden tool", "admin_reset", {}, "hidden"),
    Step("write with a bad id", "write_record", {"record_id": "R1", "status": "x"}, "deny"),
    Step("refund 25 EUR", "issue_refund", {"order_id": "o-7", "amount": 25}, "allow"),
    Step(
        "refund 2500 EUR", "issue_refund", {"order_id": "o-8", "amount": 2500}, "approval_required"
    ),
    Step("read a second record", "read_record", {"record_id": "r-2"}, "allow"),
    Step("read a third record", "read_record", {"record_id": "r-3"}, "allow"),
    Step("read a fourth in a minute", "read_record", {"record_id": "r-1"}, "rate_limited"),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one step."""

    step: Step
    decision: str
    rule: str
    seen: str


def callgate_command(policy: Path, audit: Path, state: Path) -> list[str]:
    """`callgate run` in front of the example server, both in this Python.

    State (counters, approvals) goes to the SQLite file `state`: a fresh one per demo run,
    which an operator could also open to approve from another terminal.
    """
    return [
        sys.executable,
        "-m",
        "callgate",
        "run",
        "-c",
        str(policy),
        "--state",
        f"sqlite://{state.resolve()}",
        "--audit",
        str(audit),
        "--server-name",
        "demo",
        "--agent",
        "demo-agent",
        "--",
        sys.executable,
        "-m",
        "callgate.demo.server",
    ]


def _outcome(step: Step, result: CallToolResult) -> Outcome:
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    seen = " ".join(texts).strip()
    details = (result.meta or {}).get(META_KEY)
    if isinstance(details, dict):
        return Outcome(step, str(details.get("verdict")), str(details.get("rule") or ""), seen)
    return Outcome(step, "error" if result.is_error else "allow", "", seen)


async def run_demo(
    policy: Path, audit: Path, state: Path, mode: str = "auto"
) -> tuple[list[str], list[Outcome]]:
    """Run every step through a real callgate process; returns listed tools and outcomes."""
    params = StdioServerParameters(
        command=sys.executable,
        args=callgate_command(policy, audit, state)[1:],
        env=dict(os.environ),
    )
    outcomes: list[Outcome] = []
    async with Client(params, mode=mode) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        for step in STEPS:
            outcomes.append(_outcome(step, await client.call_tool(step.tool, step.arguments)))
    return listed, outcomes


_STYLE = {
    "allow": "green",
    "deny": "red",
    "hidden": "magenta",
    "rate_limited": "yellow",
    "approval_required": "cyan",
}


def render(listed: Sequence[str], outcomes: Sequence[Outcome], console: Console) -> bool:
    """Print the table; True when every decision was the expected one."""
    console.print(f"[bold]Tools the agent sees:[/bold] {', '.join(listed)}")
    table = Table(title="callgate demo: every call judged before it reaches the server")
    table.add_column("#", justify="right")
    table.add_column("the agent wants to", ratio=2)
    table.add_column("call", ratio=3)
    table.add_column("decision", no_wrap=True)
    table.add_column("rule", ratio=2)
    table.add_column("what the agent saw", ratio=5)
    all_expected = True
    for number, outcome in enumerate(outcomes, 1):
        step = outcome.step
        arguments = ", ".join(f"{key}={value!r}" for key, value in step.arguments.items())
        decision = Text(outcome.decision, style=_STYLE.get(outcome.decision, "white"))
        if outcome.decision != step.expected:
            all_expected = False
            decision.append(f" (expected {step.expected})", style="bold red")
        seen = outcome.seen if len(outcome.seen) <= 240 else outcome.seen[:237] + "..."
        # Text(), not markup: "[callgate] ..." must print as written.
        table.add_row(
            str(number),
            Text(step.intent),
            Text(f"{step.tool}({arguments})"),
            decision,
            Text(outcome.rule),
            Text(seen),
        )
    console.print(table)
    return all_expected
