"""The result guard: what a tool's result shows the model, checked before the agent sees it.

Pure: `secrets` finds and replaces secrets in strings, `injection` finds instructions aimed
at the model, `guard` walks a `tools/call` result with both as a policy's `results:` asks.
The gate (`callgate.proxy.gate`) applies it to the answers of calls whose policy has
`results:` rules.
"""

from callgate.results.guard import (
    UNTRUSTED_END,
    UNTRUSTED_START,
    WITHHELD,
    WRAPPER,
    GuardReport,
    InjectionAction,
    ResultRules,
    guard_result,
)
from callgate.results.injection import find_injection
from callgate.results.secrets import MARKER, Redaction, redact_secrets

__all__ = [
    "MARKER",
    "UNTRUSTED_END",
    "UNTRUSTED_START",
    "WITHHELD",
    "WRAPPER",
    "GuardReport",
    "InjectionAction",
    "Redaction",
    "ResultRules",
    "find_injection",
    "guard_result",
    "redact_secrets",
]
