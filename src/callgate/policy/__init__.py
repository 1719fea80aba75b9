"""The policy: text → `PolicySpec` (loader) → `CompiledPolicy` (compiler) → `Decision` (engine).

The public names below are imported lazily, so `callgate.policy.decision` (used on the
hot path and by every edge) does not pull in the YAML loader and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callgate.policy.compiler import CompiledPolicy, compile_policy, load_compiled_policy
    from callgate.policy.engine import counter_keys, evaluate
    from callgate.policy.loader import load_policy, load_policy_text
    from callgate.policy.schema import PolicySpec, export_json_schema

_WHERE = {
    "CompiledPolicy": "compiler",
    "compile_policy": "compiler",
    "load_compiled_policy": "compiler",
    "counter_keys": "engine",
    "evaluate": "engine",
    "load_policy": "loader",
    "load_policy_text": "loader",
    "PolicySpec": "schema",
    "export_json_schema": "schema",
}

__all__ = [
    "CompiledPolicy",
    "PolicySpec",
    "compile_policy",
    "counter_keys",
    "evaluate",
    "export_json_schema",
    "load_compiled_policy",
    "load_policy",
    "load_policy_text",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'callgate.policy' has no attribute {name!r}")
    return getattr(importlib.import_module(f"callgate.policy.{module}"), name)
