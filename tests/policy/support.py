"""Helpers for policy tests: compile YAML text and judge one call."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from callgate.policy.compiler import CompiledPolicy, compile_policy
from callgate.policy.decision import Agent, Decision, Facts, ToolCall
from callgate.policy.engine import evaluate
from callgate.policy.loader import load_policy_text

SERVER = "srv"


def compile_text(text: str) -> CompiledPolicy:
    """Compile a policy written inline (dedented)."""
    return compile_policy(load_policy_text(textwrap.dedent(text)))


def decide(
    policy: CompiledPolicy | str,
    tool: str,
    args: Mapping[str, Any] | None = None,
    *,
    agent: Agent | None = None,
    session: str = "s1",
    category: str | None = None,
    flags: tuple[str, ...] = (),
    counters: Mapping[str, int | str | Decimal] | None = None,
) -> Decision:
    """The decision for one call against `policy` (compiled or YAML text)."""
    compiled = compile_text(policy) if isinstance(policy, str) else policy
    facts = Facts(
        now=1_700_000_000.0,
        agent=agent or Agent("anonymous"),
        session=session,
        category=category,
        flags=flags,
        counters={k: Decimal(v) for k, v in (counters or {}).items()},
    )
    return evaluate(compiled, ToolCall(SERVER, tool, dict(args or {})), facts)
