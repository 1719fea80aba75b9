"""`callgate catalog`: a static HTML and Markdown risk catalogue of a server's tools.

    callgate catalog (--tools FILE | --upstream URL [--header "K: V"]... | -- CMD ARGS...)
                     -o DIR [--title TEXT]

Writes DIR/index.html and DIR/index.md (counts, every tool by category, riskiest first)
and one page per tool under DIR/tools/ in both formats, linked both ways. The pages are
self-contained (inline CSS, no scripts, nothing fetched) and made offline from the tool
definitions. Exit codes as `callgate classify`: 0 written, 2 bad input (or a directory
that cannot be written), 3 the server could not be reached.
"""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_USAGE, EXIT_RUNTIME = 0, 2, 3


def register(subparsers: Any) -> None:
    """Add the `catalog` sub-command."""
    from callgate.scan.target import add_upstream_arguments

    parser = subparsers.add_parser(
        "catalog",
        help="write a static HTML + Markdown risk catalogue of a server's tools",
        description="Classify every tool and write a linked, self-contained catalogue: an "
        "index by category and severity, and a risk card per tool (what it does, why its "
        "category, the attacks that exploit it, the recommended rule).",
    )
    parser.add_argument("--tools", metavar="FILE", help="JSON tool list or tools/list result")
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="DIR", help="directory to write"
    )
    parser.add_argument("--title", help="the catalogue's title (default: the server)")
    add_upstream_arguments(parser, required=False)
    parser.set_defaults(func=run)


def _fail(code: int, message: str) -> int:
    print(f"callgate catalog: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Load the tools, build every card and write the catalogue."""
    from callgate.cli.classify import load_tools
    from callgate.scan.target import UpstreamError

    try:
        tools = load_tools(args)
    except ValueError as error:
        return _fail(EXIT_USAGE, str(error))
    except UpstreamError as error:
        return _fail(EXIT_RUNTIME, str(error))
    from callgate.catalogue.card import build_cards
    from callgate.catalogue.site import build_catalogue, write_catalogue

    origin = _origin(args)
    cards = build_cards(tools)
    files = build_catalogue(cards, title=args.title or origin, origin=origin)
    output: Path = args.output
    try:
        write_catalogue(output, files)
    except OSError as error:
        return _fail(EXIT_USAGE, f"cannot write {error.filename or output}: {error.strerror}")
    print(
        f"callgate catalog: {len(cards)} tools; wrote {output / 'index.html'}, "
        f"{output / 'index.md'} and {len(files) - 2} tool pages",
        file=sys.stderr,
    )
    return EXIT_OK


def _origin(args: argparse.Namespace) -> str:
    if args.tools is not None:
        return "standard input" if args.tools == "-" else Path(args.tools).name
    if args.upstream is not None:
        return str(args.upstream)
    return " ".join(part for part in args.command if part != "--")
