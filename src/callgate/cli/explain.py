"""`callgate explain -c POLICY --tool NAME [--args JSON] ...`: why a call gets its decision.

Shows, step by step, whether the tool is hidden, which entries apply (exact name, pattern,
category, flags, "*"), each rule in order with the value every condition saw, and the decision.
Exit 0 whatever the decision; 1 when the policy is invalid; 2 for bad arguments.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add the `explain` sub-command."""
    parser = subparsers.add_parser(
        "explain",
        help="show which rules match a call and why it gets its decision",
        description="Explain, step by step, how the policy judges one tool call.",
    )
    parser.add_argument("-c", "--config", required=True, type=Path, metavar="POLICY")
    parser.add_argument("--tool", required=True, metavar="NAME")
    parser.add_argument("--args", default="{}", metavar="JSON", help="the call's arguments")
    parser.add_argument("--agent", default="anonymous", metavar="NAME")
    parser.add_argument("--roles", default="", metavar="A,B", help="the agent's roles")
    parser.add_argument("--session", default="explain", metavar="ID")
    parser.add_argument("--category", metavar="C", help="the tool's category (classifier)")
    parser.add_argument(
        "--flags", default="", metavar="A,B", help="the tool's flags (classifier), e.g. money,bulk"
    )
    parser.add_argument(
        "--counters",
        default="{}",
        metavar="JSON",
        help='counter values before the call, e.g. {"create_charge.daily_spend": 900}',
    )
    parser.add_argument("--server", default="upstream", metavar="NAME")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Explain one call and print the steps."""
    import json
    from decimal import Decimal

    from rich.console import Console
    from rich.markup import escape

    from callgate.classifier.classification import Flag
    from callgate.errors import PolicyError
    from callgate.policy.compiler import load_compiled_policy
    from callgate.policy.decision import Agent, Facts, ToolCall
    from callgate.policy.explain import Outcome, explain
    from callgate.policy.source import suggest

    try:
        arguments = json.loads(args.args, parse_float=Decimal)
        counters = json.loads(args.counters, parse_float=Decimal)
    except ValueError as error:
        print(f"callgate explain: --args and --counters take JSON: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(arguments, dict) or not isinstance(counters, dict):
        print("callgate explain: --args and --counters take a JSON object", file=sys.stderr)
        return EXIT_USAGE
    try:
        values = {str(k): Decimal(str(v)) for k, v in counters.items()}
    except ArithmeticError:
        print("callgate explain: counter values must be numbers", file=sys.stderr)
        return EXIT_USAGE
    flags = tuple(flag.strip() for flag in args.flags.split(",") if flag.strip())
    known = [flag.value for flag in Flag]
    for flag in flags:
        if flag not in known:
            hint = suggest(flag, known) or f"flags are {', '.join(known)}"
            print(f"callgate explain: --flags: unknown flag {flag!r} ({hint})", file=sys.stderr)
            return EXIT_USAGE
    try:
        policy = load_compiled_policy(Path(args.config))
    except PolicyError as error:
        for issue in error.issues:
            print(issue.render(), file=sys.stderr)
        return EXIT_INVALID
    roles = frozenset(role for role in args.roles.split(",") if role)
    facts = Facts(
        now=0.0,
        agent=Agent(args.agent, roles),
        session=args.session,
        category=args.category,
        flags=flags,
        counters=values,
    )
    result = explain(policy, ToolCall(args.server, args.tool, arguments), facts)
    console = Console(highlight=False, soft_wrap=True)
    marks = {
        Outcome.PASS: "[green]✓[/green]",
        Outcome.FAIL: "[red]✗[/red]",
        Outcome.INFO: "[blue]·[/blue]",
        Outcome.SKIP: "[dim]-[/dim]",
    }
    console.print(f"call {escape(args.tool)} {escape(json.dumps(arguments, default=str))}")
    for step in result.steps:
        console.print(f"{'    ' * step.depth}{marks[step.outcome]} {escape(step.text)}")
    decision = result.decision
    verdict = decision.verdict.value.upper().replace("_", " ")
    line = f"decision: {verdict}"
    if decision.rule:
        line += f" by rule {decision.rule!r}"
    if decision.reason:
        line += f": {decision.reason}"
    console.print(f"[bold]{escape(line)}[/bold]")
    extras = [f"charges {c.key.name} +{c.amount}" for c in decision.charges]
    if decision.validate_arguments:
        extras.append("arguments are validated against the tool's input schema")
    for extra in extras:
        console.print(f"  {escape(extra)}")
    return EXIT_OK
