"""Tool integrity (issue 15): definitions pinned in a lock file and checked at run time.

`lock` is pure (canonical definitions, hashes, the lock file, comparing a listing with a
diff); `pinning` is the run-time check the gate asks about every listing and every call.
"""

from __future__ import annotations

from callgate.integrity.lock import (
    Lock,
    LockError,
    ToolChange,
    ToolStatus,
    compare_server,
    parse_lock,
    pin_server,
)
from callgate.integrity.pinning import INTEGRITY_RULE, Pinning

__all__ = [
    "INTEGRITY_RULE",
    "Lock",
    "LockError",
    "Pinning",
    "ToolChange",
    "ToolStatus",
    "compare_server",
    "parse_lock",
    "pin_server",
]
