"""`callgate classify`: the risk category of every tool of a server or a file.

    callgate classify (--tools FILE | --upstream URL [--header "K: V"]... | -- CMD ARGS...)
                      [--format table|json|card]

FILE holds a JSON list of tool definitions, a `tools/list` result (`{"tools": [...]}`) or a
JSON-RPC response carrying one; `-` reads standard input. `--format card` prints each
tool's risk card (what it does, why its category, the attacks that exploit it, the
recommended rule), riskiest first.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_USAGE, EXIT_RUNTIME = 0, 2, 3


class ToolListError(ValueError):
    """A tool file that cannot be read as a list of tool definitions."""


def register(subparsers: Any) -> None:
    """Add the `classify` sub-command."""
    from callgate.scan.target import add_upstream_arguments

    parser = subparsers.add_parser(
        "classify",
        help="classify a server's tools by risk",
        description="Classify MCP tools by risk (read, write, execute, destructive, "
        "financial) with severity, confidence and reasons.",
    )
    parser.add_argument("--tools", metavar="FILE", help="JSON tool list or tools/list result")
    parser.add_argument(
        "--format",
        choices=("table", "json", "card"),
        default="table",
        help="table (default), json, or card: a risk card per tool",
    )
    add_upstream_arguments(parser, required=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Classify the tools named by the arguments and print them."""
    from callgate.scan.target import UpstreamError

    try:
        tools = load_tools(args)
    except ValueError as error:
        print(f"callgate classify: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UpstreamError as error:
        print(f"callgate classify: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    if args.format == "card":
        from rich.console import Console

        from callgate.catalogue.card import build_cards
        from callgate.catalogue.terminal import print_cards

        print_cards(build_cards(tools), Console(highlight=False))
        return EXIT_OK
    from callgate.catalogue.card import findings_by_tool
    from callgate.classifier import classify_tool
    from callgate.integrity.poisoning import scan_servers

    results = [classify_tool(tool) for tool in tools]
    findings = findings_by_tool(scan_servers({"": tools}))
    if args.format == "json":
        import json

        json.dump(
            [
                {
                    **result.to_dict(),
                    "findings": [f.to_dict() for f in findings.get(result.name, [])],
                }
                for result in results
            ],
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        _print_table(results)
        _print_findings_summary(findings)
    return EXIT_OK


def _print_findings_summary(findings: Mapping[str, Sequence[Any]]) -> None:
    """One line per tool the poisoning scan flagged, after the table (on stderr)."""
    from callgate.integrity.unicode import escape_text

    for name, found in sorted(findings.items()):
        worst = found[0]
        print(
            f"poisoning scan: {escape_text(name, 60)}: {len(found)} finding(s), worst "
            f"{worst.severity.value}: {worst.message} ({worst.where})",
            file=sys.stderr,
        )


def load_tools(args: argparse.Namespace) -> list[Mapping[str, Any]]:
    """The tools named by `--tools FILE`, `--upstream URL` or `-- CMD ARGS...`.

    ValueError for bad input (what and where), `UpstreamError` for an unreachable server.
    """
    if args.tools is not None:
        if args.upstream is not None or args.command:
            raise ValueError("give --tools FILE, --upstream URL or -- CMD ARGS..., only one")
        return read_tool_file(args.tools)
    import anyio

    from callgate.scan.target import upstream_from_args
    from callgate.scan.upstream import fetch_tools

    upstream = upstream_from_args(args.upstream, args.header, args.command)
    return list(anyio.run(fetch_tools, upstream))


def read_tool_file(path: str) -> list[Mapping[str, Any]]:
    """Tool definitions from a JSON file (`-` for stdin); ToolListError says what is wrong."""
    import json

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ToolListError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}:{error.colno}: not JSON ({error.msg})") from error
    return tools_from_json(data, path)


def tools_from_json(data: object, origin: str) -> list[Mapping[str, Any]]:
    """The tool list inside a parsed JSON document: a list, `{"tools"}` or `{"result"}`."""
    if isinstance(data, Mapping) and isinstance(data.get("result"), Mapping):
        data = data["result"]
    if isinstance(data, Mapping) and "tools" in data:
        data = data["tools"]
    if not isinstance(data, list):
        raise ToolListError(
            f"{origin}: expected a list of tools, a tools/list result or a JSON-RPC response"
        )
    problems = [
        f"tool #{index}: " + ("not an object" if not isinstance(tool, Mapping) else "no name")
        for index, tool in enumerate(data)
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str)
    ]
    if problems:
        raise ToolListError(f"{origin}: " + "; ".join(problems))
    return list(data)


def _print_table(results: Sequence[Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from callgate.classifier import Category

    table = Table(title=f"{len(results)} tools by risk", show_lines=False)
    table.add_column("tool", overflow="fold", min_width=20)
    table.add_column("severity / confidence", no_wrap=True)
    table.add_column("reasons", overflow="fold", ratio=1, min_width=24)
    for category in sorted(Category, key=lambda c: c.rank, reverse=True):
        members = sorted((r for r in results if r.category is category), key=lambda r: r.name)
        if not members:
            continue
        table.add_row(Text(f"{category.value} ({len(members)})", style="bold"), end_section=True)
        for index, result in enumerate(members):
            table.add_row(
                result.name,
                f"{result.severity.value} / {result.confidence.value} {result.score:.2f}",
                "; ".join(result.reasons),
                end_section=index == len(members) - 1,
            )
    Console().print(table)
