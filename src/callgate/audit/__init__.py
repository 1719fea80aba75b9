"""The audit log: every decision, chained so that tampering shows, and read back.

Pure parts, no I/O (the time passed in):

    record.py        build_event, the canonical line of a record
    chain.py         link hashes, genesis, signed checkpoints, the fast line-prefix parser
    redaction.py     what of the arguments is kept (hash | redacted | full), secret shapes
    layout.py        writer names and file names in an audit directory
    verification.py  following one writer's chain and naming its first break
    query.py         record filters (time range, tool, server, agent, ... decision, rule)

Edges:

    sink.py          the writer thread (ChainWriter, JsonlAuditSink), the install key
    directory.py     preparing a directory (moving an old single-file log aside), verifying
    reading.py       records out of a directory or file: query, last records, follow

The public names below are imported lazily, so the policy compiler can use `redaction`
without pulling in the writer's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callgate.audit.directory import prepare_directory, verify_directory
    from callgate.audit.reading import query, read_records
    from callgate.audit.record import build_event
    from callgate.audit.sink import (
        AuditSink,
        JsonlAuditSink,
        NullAuditSink,
        load_install_key,
        read_install_key,
    )

_WHERE = {
    "AuditSink": "sink",
    "JsonlAuditSink": "sink",
    "NullAuditSink": "sink",
    "build_event": "record",
    "load_install_key": "sink",
    "prepare_directory": "directory",
    "query": "reading",
    "read_install_key": "sink",
    "read_records": "reading",
    "verify_directory": "directory",
}

__all__ = [
    "AuditSink",
    "JsonlAuditSink",
    "NullAuditSink",
    "build_event",
    "load_install_key",
    "prepare_directory",
    "query",
    "read_install_key",
    "read_records",
    "verify_directory",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'callgate.audit' has no attribute {name!r}")
    return getattr(importlib.import_module(f"callgate.audit.{module}"), name)
