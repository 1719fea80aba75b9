"""Where the audit sink used to live; it is now `callgate.audit` (kept for old imports)."""

from __future__ import annotations

from callgate.audit.record import build_event, hash_arguments
from callgate.audit.sink import AuditSink, JsonlAuditSink, NullAuditSink, load_install_key

__all__ = [
    "AuditSink",
    "JsonlAuditSink",
    "NullAuditSink",
    "build_event",
    "hash_arguments",
    "load_install_key",
]
