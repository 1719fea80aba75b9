"""`callgate schema`: print the JSON Schema of the policy format (from the models)."""

# Imports live inside the functions so `callgate --help` stays fast.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `schema` sub-command."""
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of the policy file format",
        description="Print the JSON Schema of callgate policy files, generated from the models.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the schema as indented JSON."""
    import json

    from callgate.policy.schema import export_json_schema

    print(json.dumps(export_json_schema(), indent=2, sort_keys=True))
    return 0
