"""List one real MCP server's tools into the classifier corpus.

Usage:
    .venv/bin/python tests/classifier/corpus/list_tools.py SLUG --split dev|holdout|holdout2 \
        --package NAME --registry pypi|npm --version X.Y.Z [--env K=V]... -- CMD ARGS...

Starts the server over stdio with the official `mcp` client (through
`callgate.scan.upstream.fetch_tools`, every page of `tools/list`) and writes
`tests/classifier/corpus/<split>/<SLUG>.json`: how it was listed (package, registry,
version, command, the environment variables given with --env, the date) and the tools
exactly as the server sent them (`name`, `description`, `inputSchema`, `annotations`, ...).
Labels are kept apart, in `<split>/<SLUG>.labels.jsonl`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

import anyio

from callgate.scan.target import Upstream
from callgate.scan.upstream import fetch_tools

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    """List the server and write its corpus file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slug")
    parser.add_argument("--split", choices=("dev", "holdout", "holdout2"), required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--registry", choices=("pypi", "npm"), required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--env", action="append", default=[], metavar="K=V")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[0] == "--" else args.command
    env = dict(item.split("=", 1) for item in args.env)
    os.environ.update(env)
    tools = anyio.run(fetch_tools, Upstream(command=tuple(command)), args.timeout)
    record = {
        "server": args.slug,
        "package": args.package,
        "registry": args.registry,
        "version": args.version,
        "command": command,
        "env": env,
        "listed_on": datetime.date.today().isoformat(),
        "tools": tools,
    }
    out = HERE / args.split / f"{args.slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    print(f"{out}: {len(tools)} tools", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
