"""Nanoseconds per leaf-condition evaluation, per operator.

Run: `.venv/bin/python bench/conditions.py [--rounds N]`. Each case compiles one condition
once and times many evaluations of the compiled predicate on one subject in CPU time (best
of several rounds, so a busy machine shows less). The numbers are for one predicate call:
the path walk plus the operator's test.
"""

from __future__ import annotations

import argparse
import time
import timeit
from decimal import Decimal
from typing import Any

from callgate.policy.conditions import compile_condition

SUBJECT: dict[str, Any] = {
    "args": {
        "amount": 4200,
        "price": 19.99,
        "exact": Decimal("19.99"),
        "currency": "usd",
        "branch": "feat/login-page",
        "path": "/app/src/../src/main.py",
        "url": "https://user@api.github.com:443/repos",
        "tags": ["a", "b", "admin"],
        "tool": "delete_repository",
        "meta": {"owner": {"id": "u1"}},
        "items": [{"amount": n} for n in range(10)],
    },
    "state": {"create_charge": {"daily_spend": Decimal("999.50")}},
    "agent": {"name": "ci-bot", "roles": ["admin", "dev"]},
}

CASES: list[tuple[str, str, str, Any]] = [
    ("eq (string)", "args.currency", "eq", "usd"),
    ("eq (number)", "args.amount", "eq", 4200),
    ("neq", "args.currency", "neq", "eur"),
    ("in (5 strings)", "args.currency", "in", ["usd", "eur", "gbp", "jpy", "chf"]),
    ("not_in", "args.currency", "not_in", ["xxx", "yyy"]),
    ("lt (int)", "args.amount", "lt", 50000),
    ("lte (float arg)", "args.price", "lte", 20),
    ("gt (Decimal arg)", "args.exact", "gt", "19.98"),
    ("gte (state counter)", "state.create_charge.daily_spend", "gte", 1000),
    ("regex", "args.branch", "regex", "^feat/"),
    ("not_regex", "args.branch", "not_regex", "^release/"),
    ("regex (on RE2)", "args.branch", "regex", "^(feat|fix)/([a-z]+-?)+$"),
    ("contains (string)", "args.branch", "contains", "login"),
    ("contains (list)", "args.tags", "contains", "admin"),
    ("exists", "args.amount", "exists", True),
    ("exists (missing)", "args.nope", "exists", False),
    ("glob", "args.tool", "glob", "delete_*"),
    ("path_within", "args.path", "path_within", "/app/src"),
    ("url_host_in", "args.url", "url_host_in", ["*.github.com", "github.com"]),
    ("length_lte", "args.branch", "length_lte", 64),
    ("eq (nested path)", "args.meta.owner.id", "eq", "u1"),
    ("eq (agent.name)", "agent.name", "eq", "ci-bot"),
    ("contains (agent.roles)", "agent.roles", "contains", "admin"),
    ("lte (missing arg)", "args.nope", "lte", 1),
    ("lte (items[*], 10 elements)", "args.items[*].amount", "lte", 100),
]


def main() -> None:
    """Print ns per evaluation for every case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=200_000)
    options = parser.parse_args()
    print(f"{'operator':32} {'ns/eval':>9}  result")
    for label, path, op, value in CASES:
        predicate = compile_condition(path, op, value)
        result = predicate(SUBJECT)
        number = options.number // 10 if "[*]" in path else options.number
        timer = timeit.Timer(
            "predicate(subject)",
            # CPU time of this process: on a busy machine, time spent waiting for a core
            # would otherwise count as evaluation time.
            timer=time.process_time,
            globals={"predicate": predicate, "subject": SUBJECT},
        )
        best = min(timer.repeat(repeat=options.rounds, number=number)) / number
        print(f"{label:32} {best * 1e9:9.0f}  {result}")


if __name__ == "__main__":
    main()
