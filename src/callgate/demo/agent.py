"""The demo's scripted agent: the official `mcp` SDK client, talking to a real
`callgate run` process in front of the example server, making calls that show each kind
of decision. It prints one table row per call and checks each decision is the expected
one (exit status 1 if not), so the demo doubles as a smoke test.

Approvals use the real machinery. The agent's client has an elicitation callback: when
callgate asks it to approve a call, it records the prompt and answers as scripted (accept
one refund, decline another). A second agent, whose client shows no prompts, makes a
third refund: that call waits in callgate until an operator runs
`callgate approvals approve ID` as a separate process against the demo's state store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData, TextContent
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from callgate.approvals.model import Approval, Status
from callgate.state.approvals_sqlite import SqliteApprovalStore

META_KEY = "callgate/decision"
APPROVAL_META_KEY = "callgate/approval"
OPERATOR_WAIT = 30.0
"""Seconds the demo waits for the operator's call to show up as pending."""

Approver = Literal["accept", "decline", "operator"]


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted call and the decision the example policy should give it.

    `approver` says who answers when callgate asks for approval: the agent's own client
    (`accept` or `decline` the prompt) or an operator on the command line.
    """

    intent: str
    tool: str
    arguments: dict[str, Any]
    expected: str
    approver: Approver | None = None


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
        "refund 2500 EUR (user says yes)",
        "issue_refund",
        {"order_id": "o-8", "amount": 2500},
        "approved",
        approver="accept",
    ),
    Step(
        "refund 900 EUR (user says no)",
        "issue_refund",
        {"order_id": "o-9", "amount": 900},
        "declined",
        approver="decline",
    ),
    Step("read a second record", "read_record", {"record_id": "r-2"}, "allow"),
    Step("read a third record", "read_record", {"record_id": "r-3"}, "allow"),
    Step("read a fourth in a minute", "read_record", {"record_id": "r-1"}, "rate_limited"),
)

OPERATOR_STEP = Step(
    "refund 5000 EUR (no prompt: operator)",
    "issue_refund",
    {"order_id": "o-10", "amount": 5000},
    "approved",
    approver="operator",
)
"""Made by a second agent whose client cannot show prompts: callgate holds the call for
the operators, and the demo's operator approves it from the command line."""

NOTES: dict[Approver, str] = {
    "accept": "agreed with the customer on the phone",
    "decline": "this order was already refunded",
    "operator": "checked the order; refund is due",
}


@dataclass(frozen=True, slots=True)
class Asked:
    """How callgate asked for an approval and who answered what."""

    channel: Literal["client", "operator"]
    prompt: str
    rule: str
    approved: bool
    answer: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one step."""

    step: Step
    decision: str
    rule: str
    seen: str
    asked: Asked | None = None


@dataclass(slots=True)
class ScriptedUser:
    """The agent's user, as an elicitation callback: records each prompt callgate sends
    and gives the answer scripted for the current step (decline when none is)."""

    answer: Approver | None = None
    asked: list[Asked] = field(default_factory=list)

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        details = (params.meta or {}).get(APPROVAL_META_KEY)
        rule = str(details.get("rule") or "") if isinstance(details, dict) else ""
        accept = self.answer == "accept"
        note = NOTES[self.answer] if self.answer is not None else "not expected by the demo"
        said = "accepted" if accept else "declined"
        self.asked.append(Asked("client", params.message, rule, accept, f'{said}: "{note}"'))
        return ElicitResult(action="accept" if accept else "decline", content={"note": note})


def callgate_command(policy: Path, audit: Path, state: Path) -> list[str]:
    """`callgate run` in front of the example server, both in this Python.

    State (counters, approvals) goes to the SQLite file `state`: a fresh one per demo run,
    which the demo's operator opens to approve from another process.
    """
    return [
        sys.executable,
        "-m",
        "callgate",
        "run",
        "-c",
        str(policy),
        "--state",
        state_url(state),
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


def state_url(state: Path) -> str:
    """The `--state` URL of the demo's SQLite file."""
    return f"sqlite://{state.resolve()}"


def operator_command(state: Path, audit: Path, *args: str) -> list[str]:
    """`callgate approvals ARGS` on the demo's store, writing to the demo's audit log."""
    return [
        sys.executable, "-m", "callgate", "approvals", *args,
        "--state", state_url(state), "--audit", str(audit),
    ]  # fmt: skip


def _texts(result: CallToolResult) -> str:
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return " ".join(texts).strip()


def _outcome(step: Step, result: CallToolResult, asked: Asked | None = None) -> Outcome:
    seen = _texts(result)
    details = (result.meta or {}).get(META_KEY)
    if isinstance(details, dict):
        verdict, rule = str(details.get("verdict")), str(details.get("rule") or "")
    else:
        verdict, rule = ("error" if result.is_error else "allow"), ""
    if asked is None:
        return Outcome(step, verdict, rule, seen)
    # Asked: approved means the real result came back; declined means a denial.
    if verdict == "allow" and asked.approved:
        decision = "approved"
    elif verdict == "deny" and not asked.approved:
        decision = "declined"
    else:
        decision = verdict
    return Outcome(step, decision, rule or asked.rule, seen, asked)


async def _call(client: Client, user: ScriptedUser, step: Step) -> Outcome:
    user.answer = step.approver
    prompts = len(user.asked)
    result = await client.call_tool(step.tool, step.arguments)
    user.answer = None
    asked = user.asked[prompts] if len(user.asked) > prompts else None
    return _outcome(step, result, asked)


async def _pending(state: Path, tool: str) -> Approval:
    """The pending approval for `tool` in the demo's store, once the proxy created it.

    Polls the SQLite file (as `callgate approvals list` would) every 20 ms.
    """
    with anyio.fail_after(OPERATOR_WAIT):
        while not state.exists():
            await anyio.sleep(0.02)
        store = SqliteApprovalStore(state)
        try:
            while True:
                for approval in await store.list({Status.REQUESTED}):
                    if approval.request.tool == tool:
                        return approval
                await anyio.sleep(0.02)
        finally:
            await store.aclose()


async def _operator_approves(client: Client, step: Step, state: Path, audit: Path) -> Outcome:
    """The second agent calls; the call waits; the operator approves it with the CLI.

    Should the CLI fail, the waiting call is withdrawn (the demo does not sit out the
    approval timeout) and the row shows an error.
    """
    results: list[CallToolResult] = []
    reason = NOTES["operator"]
    async with anyio.create_task_group() as group:

        async def agent_calls() -> None:
            results.append(await client.call_tool(step.tool, step.arguments))

        group.start_soon(agent_calls)
        pending = await _pending(state, step.tool)
        args = ("approve", pending.id, "--by", "operator", "--reason", reason)
        done = await anyio.run_process(operator_command(state, audit, *args), check=False)
        if done.returncode != 0:
            group.cancel_scope.cancel()
    request = pending.request
    prompt = (
        f"The call waits in callgate as approval {pending.id}\n"
        f"Tool: {request.tool} on server {request.server}, agent {request.agent}\n"
        f"Risk category: {request.category or 'unclassified'}\n"
        f"Rule: {request.rule or '(unnamed)'}\n"
        f"The operator runs:\n  callgate approvals approve {pending.id} "
        f'--by operator --reason "{reason}"'
    )
    said = (done.stdout if done.returncode == 0 else done.stderr).decode().strip()
    said = said.splitlines()[0] if said else ""
    verb = "approved" if done.returncode == 0 else f"failed (exit {done.returncode})"
    asked = Asked("operator", prompt, request.rule or "", done.returncode == 0, f"{verb}: {said}")
    if not results:
        return Outcome(step, "error", asked.rule, "the call was withdrawn", asked)
    return _outcome(step, results[0], asked)


async def run_demo(
    policy: Path, audit: Path, state: Path, mode: str = "auto"
) -> tuple[list[str], list[Outcome]]:
    """Run every step through real callgate processes; returns listed tools and outcomes.

    The second agent's callgate starts alongside the first (start-up dominates the demo's
    time) but calls only once the first agent's steps are done, so the order is fixed.
    """
    params = StdioServerParameters(
        command=sys.executable,
        args=callgate_command(policy, audit, state)[1:],
        env=dict(os.environ),
    )
    user = ScriptedUser()
    outcomes: list[Outcome] = []
    operator_outcome: list[Outcome] = []
    first_agent_done = anyio.Event()

    async def second_agent() -> None:
        async with Client(params, mode=mode) as promptless:
            await first_agent_done.wait()
            operator_outcome.append(
                await _operator_approves(promptless, OPERATOR_STEP, state, audit)
            )

    async with anyio.create_task_group() as group:
        group.start_soon(second_agent)
        try:
            async with Client(params, mode=mode, elicitation_callback=user) as client:
                listed = [tool.name for tool in (await client.list_tools()).tools]
                for step in STEPS:
                    outcomes.append(await _call(client, user, step))
        finally:
            first_agent_done.set()
    return listed, outcomes + operator_outcome


_STYLE = {
    "allow": "green",
    "approved": "green",
    "deny": "red",
    "declined": "red",
    "hidden": "magenta",
    "rate_limited": "yellow",
    "approval_required": "cyan",
}
_SEEN_MAX = 200


def render(listed: Sequence[str], outcomes: Sequence[Outcome], console: Console) -> bool:
    """Print the table, then how each approval was asked and answered; True when every
    decision was the expected one."""
    console.print(f"[bold]Tools the agent sees:[/bold] {', '.join(listed)}")
    table = Table(
        title="callgate demo: every call judged before it reaches the server", expand=True
    )
    table.add_column("#", justify="right")
    table.add_column("the agent wants to", ratio=4)
    table.add_column("call", ratio=4, overflow="fold")
    table.add_column("decision", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("what the agent saw", ratio=7)
    all_expected = True
    for number, outcome in enumerate(outcomes, 1):
        step = outcome.step
        call = Text(step.tool, style="bold")
        if step.arguments:
            call.append(
                "\n" + " ".join(f"{key}={value!r}" for key, value in step.arguments.items())
            )
        decision = Text(outcome.decision, style=_STYLE.get(outcome.decision, "white"))
        if outcome.decision != step.expected:
            all_expected = False
            decision.append(f"\n(expected {step.expected})", style="bold red")
        seen = outcome.seen
        if len(seen) > _SEEN_MAX:
            seen = seen[: _SEEN_MAX - 3] + "..."
        # Text(), not markup: "[callgate] ..." must print as written.
        table.add_row(
            str(number),
            Text(step.intent),
            call,
            decision,
            Text(outcome.rule),
            Text(seen),
        )
    console.print(table)
    _render_approvals(outcomes, console)
    return all_expected


def _render_approvals(outcomes: Sequence[Outcome], console: Console) -> None:
    console.print("[bold]Approvals asked and answered:[/bold]")
    for number, outcome in enumerate(outcomes, 1):
        asked = outcome.asked
        if asked is None:
            continue
        where = (
            "callgate asked the agent's own client (elicitation); the prompt it showed:"
            if asked.channel == "client"
            else "the agent's client shows no prompts, so callgate asked the operators:"
        )
        console.print(Text(f"#{number} {where}", style="bold"))
        prompt = Text("\n".join(f"| {line}" for line in asked.prompt.splitlines()))
        console.print(Padding(prompt, (0, 0, 0, 4), expand=False))
        answer = Text(f"-> {asked.answer}", style=_STYLE.get(outcome.decision, ""))
        console.print(Padding(answer, (0, 0, 0, 4), expand=False))
        console.print(Padding(Text(f"the agent got: {outcome.seen}"), (0, 0, 0, 4), expand=False))
