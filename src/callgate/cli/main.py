"""The `callgate` command: one sub-command per module in this package.

Each module `callgate.cli.<name>` (other than this one) that defines
`register(subparsers) -> None` adds its sub-command; the parser it adds must set
`func=<callable(args) -> int>` as its default. Exit codes: 0 ok, 1 a check failed
(invalid policy, failing test case), 2 usage error, 3 runtime failure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import cast

import callgate
import callgate.cli as cli_package

_SKIP = {"main", "output"}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command module registered."""
    parser = argparse.ArgumentParser(
        prog="callgate",
        description="A transparent MCP proxy that judges every tool call against a policy.",
    )
    parser.add_argument("--version", action="version", version=f"callgate {callgate.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli_package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _SKIP:
            continue
        module = importlib.import_module(f"callgate.cli.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = cast("Callable[[argparse.Namespace], int] | None", getattr(args, "func", None))
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `callgate classify ... | head`: the reader left; say nothing more, like `cat`.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
