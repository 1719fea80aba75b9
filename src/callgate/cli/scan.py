"""`callgate scan`: connect to a server, classify its tools, write a starter policy.

    callgate scan [-o FILE] [--default allow|deny]
                  (--upstream URL [--header "K: V"]... | -- CMD ARGS...)

With `-o FILE` it writes FILE and, beside it, `<stem>.test.yaml` with `callgate test`
cases for the recommended behaviour; re-running over them keeps the user's edits and
comments and adds only tools (and cases) not seen before. Without `-o` the policy is
printed. The policy is validated before anything is written; an invalid result is not
written (exit 1).
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


def register(subparsers: Any) -> None:
    """Add the `scan` sub-command."""
    from callgate.scan.target import add_upstream_arguments

    parser = subparsers.add_parser(
        "scan",
        help="write a starter policy for a server's tools",
        description="Connect to an MCP server, classify its tools and write a starter "
        "policy with recommended rules per risk category, plus a matching test file.",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="policy file to write")
    parser.add_argument(
        "--default",
        choices=("allow", "deny"),
        default="allow",
        help="decision for tools the policy does not list (new files only)",
    )
    add_upstream_arguments(parser)
    parser.set_defaults(func=run)


def _fail(code: int, message: str) -> int:
    print(f"callgate scan: {message}", file=sys.stderr)
    return code


def test_file_for(policy: Path) -> Path:
    """Where the test file of a policy goes: `<stem>.test.yaml` beside it."""
    return policy.with_name(f"{policy.stem}.test.yaml")


def run(args: argparse.Namespace) -> int:
    """Scan the upstream and write (or print) the policy."""
    import anyio

    from callgate.errors import PolicyError
    from callgate.policy.compiler import compile_policy
    from callgate.policy.loader import load_policy_text
    from callgate.scan.document import DocumentError, merge_policy
    from callgate.scan.starter import scan_tools
    from callgate.scan.target import UpstreamError, upstream_from_args
    from callgate.scan.upstream import fetch_tools

    try:
        upstream = upstream_from_args(args.upstream, args.header, args.command)
    except ValueError as error:
        return _fail(EXIT_USAGE, str(error))
    output: Path | None = args.output
    tests_path = test_file_for(output) if output is not None else None
    try:
        existing = _read(output)
        existing_tests = _read(tests_path)
    except OSError as error:
        return _fail(EXIT_RUNTIME, f"cannot read {error.filename}: {error.strerror}")
    try:
        definitions = anyio.run(fetch_tools, upstream)
    except UpstreamError as error:
        return _fail(EXIT_RUNTIME, str(error))
    tools = scan_tools(definitions)
    try:
        merge = merge_policy(
            existing,
            tools,
            default=args.default,
            origin=upstream.describe(),
            existing_tests=existing_tests,
            policy_ref=output.name if output is not None else "policy.yaml",
        )
    except DocumentError as error:
        return _fail(EXIT_INVALID, f"{output}: {error}; nothing written")
    try:
        compile_policy(load_policy_text(merge.policy, file=str(output or "<scan>")))
    except PolicyError as error:
        for issue in error.issues:
            print(issue.render(), file=sys.stderr)
        return _fail(EXIT_INVALID, "the merged policy does not validate; nothing written")
    if output is None or tests_path is None:
        sys.stdout.write(merge.policy)
    else:
        _write(output, merge.policy)
        _write(tests_path, merge.tests)
    _report(merge, output, tests_path, len(tools))
    _report_findings(tools)
    return EXIT_OK


def _read(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None
    return path.read_text(encoding="utf-8")


def _write(path: Path, text: str) -> None:
    # Write beside and rename, so an interrupted scan never leaves half a policy.
    temporary = path.with_name(f".{path.name}.scan-tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _report(merge: Any, output: Path | None, tests_path: Path | None, total: int) -> None:
    where = f" to {output} and {tests_path}" if output is not None else ""
    print(
        f"callgate scan: {total} tools; {len(merge.added_tools)} added, "
        f"{len(merge.kept_tools)} already in the policy; "
        f"{merge.added_cases} test cases added{where}",
        file=sys.stderr,
    )


def _report_findings(tools: Any) -> None:
    flagged = [tool for tool in tools if tool.findings]
    if not flagged:
        return
    count = sum(len(tool.findings) for tool in flagged)
    from callgate.integrity.unicode import escape_text

    shown = ", ".join(escape_text(tool.name, 60) for tool in flagged[:5])
    names = shown + (", ..." if len(flagged) > 5 else "")
    print(
        f"callgate scan: poisoning scan: {count} finding(s) in {len(flagged)} tool(s) ({names}); "
        "see the POISONING SCAN comments above their entries",
        file=sys.stderr,
    )
