"""Benchmark of the policy engine: decisions per second and compile time.

    .venv/bin/python bench/engine.py [--quick]

Builds a 50-tool and a 5,000-tool policy (every tool with 5 conditions; patterns,
a category entry and "*" rules too), then times:
- load (YAML parse + validation) and compile of each policy;
- `evaluate` for a call whose rule runs 5 conditions (allowed), a denied call, a call
  matched by a pattern, and an Intercept counter rule with its "*" counter.
Targets: <= 10 µs per decision with 5 conditions; compile of 5,000 tools < 1 s.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from callgate.policy.compiler import compile_policy
from callgate.policy.decision import Agent, Facts, ToolCall
from callgate.policy.engine import evaluate
from callgate.policy.loader import load_policy_text

TOOL_RULES = """\
  tool_{n}:
    rules:
      - name: "checks {n}"
        conditions:
          - {{path: args.owner, op: in, value: [octo, org{n}]}}
          - {{path: args.currency, op: in, value: [usd, eur, gbp]}}
          - {{path: args.amount, op: lte, value: {limit}}}
          - {{path: args.branch, op: regex, value: "^(feat|fix)/[a-z0-9-]+$"}}
          - {{path: args.note, op: exists, value: false}}
        on_deny: "tool {n} refused"
"""

TAIL = """\
  spend_tool:
    rules:
      - name: "daily spend"
        conditions: [{path: state.spend_tool.spend, op: lte, value: 1000000}]
        state: {counter: spend, window: day, increment_from: args.amount}
  "delete_*":
    rules:
      - {name: "no deletes", action: deny}
  "admin_*_prod":
    rules:
      - name: "admins only"
        conditions: [{path: agent.roles, op: contains, value: admin}]
"""

WILDCARD = """\
  "*":
    rules:
      - name: "global"
        conditions: [{path: state._global.calls, op: lte, value: 100000}]
        state: {counter: calls, window: minute}
"""

CATEGORIES = """\
categories:
  destructive:
    rules:
      - {name: "ask", action: require_approval}
"""


def policy_text(tools: int, *, wildcard: bool = True) -> str:
    """A policy with `tools` entries of 5 conditions each, plus patterns, counters and '*'."""
    # Every tool's conditions differ (owner list, amount limit), so compiling is not just
    # reusing one predicate; the currency, regex and exists conditions repeat, as they do in
    # real policies.
    body = "".join(TOOL_RULES.format(n=n, limit=50_000 + n) for n in range(tools))
    star = WILDCARD if wildcard else ""
    return f'version: "1"\ndefault: deny\ntools:\n{body}{TAIL}{star}{CATEGORIES}'


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """The fastest of `repeats` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def per_decision(policy: object, call: ToolCall, facts: Facts, count: int) -> float:
    """Median µs per `evaluate` over 5 runs of `count` decisions."""

    def run() -> None:
        for _ in range(count):
            evaluate(policy, call, facts)  # type: ignore[arg-type]

    runs = []
    for _ in range(5):
        start = time.perf_counter()
        run()
        runs.append((time.perf_counter() - start) / count)
    return statistics.median(runs) * 1e6


def calibration() -> float:
    """µs for a fixed piece of pure Python, to compare machines (about 0.4 µs when idle)."""
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10_000):
            sum(range(50))
        runs.append((time.perf_counter() - start) / 10_000)
    return statistics.median(runs) * 1e6


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    count = 5_000 if parser.parse_args().quick else 50_000
    args = {"owner": "octo", "currency": "usd", "amount": 1999, "branch": "feat/login"}
    facts = Facts(
        now=0.0,
        agent=Agent("bench", frozenset({"admin"})),
        counters={"spend_tool.spend": Decimal(10), "_global.calls": Decimal(5)},
    )
    rows: list[tuple[str, str, str]] = []
    for tools in (50, 5_000):
        text = policy_text(tools)
        load_s = best_of(3, functools.partial(load_policy_text, text))
        spec = load_policy_text(text)
        compile_s = best_of(3, functools.partial(compile_policy, spec))
        policy = compile_policy(spec)
        rows.append((f"{tools} tools", "load (YAML + validate)", f"{load_s * 1000:.0f} ms"))
        rows.append((f"{tools} tools", "compile", f"{compile_s * 1000:.0f} ms"))
        middle = tools // 2
        plain = compile_policy(load_policy_text(policy_text(tools, wildcard=False)))
        micros = per_decision(plain, ToolCall("s", f"tool_{middle}", args), facts, count)
        rows.append(
            (
                f"{tools} tools",
                "allow, 5 conditions (no '*' rules)",
                f"{micros:.2f} µs  ({1e6 / micros:,.0f} decisions/s)",
            )
        )
        cases = {
            "allow, 5 conditions (+ '*' counter rule)": ToolCall("s", f"tool_{middle}", args),
            "deny, 4th condition fails": ToolCall(
                "s", f"tool_{middle}", {**args, "branch": "main"}
            ),
            "pattern 'delete_*' deny": ToolCall("s", "delete_repo", {}),
            "pattern, agent roles": ToolCall("s", "admin_db_prod", {}),
            "counter increment_from": ToolCall("s", "spend_tool", {"amount": 250}),
            "default deny (unlisted)": ToolCall("s", "unknown_tool", {}),
        }
        for label, call in cases.items():
            micros = per_decision(policy, call, facts, count)
            rows.append(
                (f"{tools} tools", label, f"{micros:.2f} µs  ({1e6 / micros:,.0f} decisions/s)")
            )
    rows.append(("machine", "calibration: sum(range(50))", f"{calibration():.2f} µs"))
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    header = ("policy", "measure", "result")
    print("  ".join(h.ljust(w) for h, w in zip(header, width, strict=True)))
    print("  ".join("-" * w for w in width))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)))


if __name__ == "__main__":
    main()
