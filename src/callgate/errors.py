"""The one error tree of callgate; every error has a stable `code`.

```
CallgateError                 code "callgate"
├── PolicyError               code "policy"   a policy file is invalid; carries every PolicyIssue
│   └── PolicyTestError       code "policy-test"  a `callgate test` file is malformed
└── UsageError                code "usage"    bad command-line input (exit code 2)
```

Errors are data: a `PolicyError` holds one `PolicyIssue` per problem found (code, message,
file:line:column, the offending key and a hint), sorted by position, never only the first.
Exit codes and JSON-RPC errors are chosen at the edges (CLI, proxy), not here.
`callgate.state.store.StoreUnavailable` stays beside its port; the gate maps it to a
fail-closed denial.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class IssueCode:
    """Stable codes of policy issues (scripts may match on them)."""

    YAML_SYNTAX = "yaml-syntax"
    DUPLICATE_KEY = "duplicate-key"
    UNKNOWN_KEY = "unknown-key"
    MISSING_KEY = "missing-key"
    INVALID_VALUE = "invalid-value"
    INVALID_RULE = "invalid-rule"
    INVALID_CONDITION = "invalid-condition"
    INVALID_PATTERN = "invalid-pattern"
    UNKNOWN_COUNTER = "unknown-counter"
    DUPLICATE_COUNTER = "duplicate-counter"
    UNREADABLE_FILE = "unreadable-file"
    # `validate --strict` findings: the policy loads, but probably does not mean what it says.
    UNUSED_COUNTER = "unused-counter"
    SHADOWED_PATTERN = "shadowed-pattern"
    UNKNOWN_ARGUMENT = "unknown-argument"
    UNREACHABLE_RULE = "unreachable-rule"


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy file, at a position (line and column are 1-based; 0 = unknown)."""

    code: str
    message: str
    file: str = "<policy>"
    line: int = 0
    column: int = 0
    key: str = ""
    hint: str = ""

    def render(self) -> str:
        """`file:line:column: key: message (hint)`, the form `callgate validate` prints."""
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def sort_key(self) -> tuple[str, int, int, str]:
        """Order issues by file, then position, then message."""
        return (self.file, self.line, self.column, self.message)


class CallgateError(Exception):
    """Base of every error callgate raises on purpose."""

    code = "callgate"


class PolicyError(CallgateError):
    """A policy file could not be loaded: every issue found, sorted by position."""

    code = "policy"

    def __init__(self, issues: Iterable[PolicyIssue]) -> None:
        self.issues: tuple[PolicyIssue, ...] = tuple(sorted(issues, key=PolicyIssue.sort_key))
        count = len(self.issues)
        summary = "\n".join(issue.render() for issue in self.issues)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in policy:\n{summary}")


class PolicyTestError(PolicyError):
    """A policy test file is malformed (not a failing case: a file that cannot be run)."""

    code = "policy-test"


class UsageError(CallgateError):
    """Bad command-line input."""

    code = "usage"
