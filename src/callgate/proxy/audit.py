"""The audit trail: one JSON line per decision, written off the hot path.

`build_event` is pure (the time is passed in). `JsonlAuditSink` is the edge: `record` only
puts the event on a queue; a background thread appends lines and flushes after every
burst, and `aclose` drains the queue before returning, so no record is lost on an orderly
shutdown. Arguments are never written: only an HMAC-SHA256 of their canonical JSON under
a per-install key, enough to tell whether two calls had the same arguments without
disclosing them. The hash is computed by the writer thread, off the hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import secrets
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread

KEY_BYTES = 32

_Item = tuple[Mapping[str, Any], Mapping[str, Any] | None]


class AuditSink(Protocol):
    """Where decisions go."""

    def record(self, event: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> None:
        """Queue one event (and the call's arguments, to be hashed); never blocks on I/O."""
        ...

    async def aclose(self) -> None:
        """Write every queued event and release the file."""
        ...


def hash_arguments(arguments: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 (hex) of the arguments' canonical JSON (sorted keys, compact, UTF-8)."""
    canonical = json.dumps(
        arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def build_event(
    *,
    now: float,
    server: str,
    session: str,
    agent: str,
    method: str,
    tool: str | None,
    decision: str,
    rule: str | None,
    reason: str,
    arguments_hmac: str | None = None,
    latency_ms: float | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    """One audit record; `outcome` says how an allowed call ended upstream."""
    return {
        "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "server": server,
        "session": session,
        "agent": agent,
        "method": method,
        "tool": tool,
        "decision": decision,
        "rule": rule,
        "reason": reason,
        "arguments_hmac": arguments_hmac,
        "latency_ms": None if latency_ms is None else round(latency_ms, 3),
        "outcome": outcome,
    }


def load_install_key(path: Path) -> bytes:
    """The per-install HMAC key at `path`, created (mode 0600) on first use."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it first; use theirs so hashes stay comparable.
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as file:
        file.write(key.hex())
    return key


class JsonlAuditSink:
    """Appends events as JSON lines to a file from a background thread."""

    def __init__(self, path: Path, key: bytes = b"", linger: float = 0.02) -> None:
        """Append to `path`; `key` is the HMAC key for argument hashes (none: no hashes).

        After the first event of a burst the writer waits `linger` seconds for more, so a
        busy proxy wakes it (and pays for a write) once per burst, not once per call.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._key = key
        self._linger = linger
        self._stopping = threading.Event()
        self._file = path.open("a", encoding="utf-8")
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_forever, name="audit", daemon=True)
        self._thread.start()
        self._closed = False

    def record(self, event: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> None:
        """Queue one event for writing (its `arguments_hmac` filled from `arguments`)."""
        if not self._closed:
            self._queue.put((event, arguments))

    async def aclose(self) -> None:
        """Write everything queued, then close the file."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._queue.put(None)
        await anyio.to_thread.run_sync(self._thread.join)

    def close(self) -> None:
        """The blocking form of `aclose`, for shutdown paths without an event loop."""
        if not self._closed:
            self._closed = True
            self._stopping.set()
            self._queue.put(None)
            self._thread.join()

    def _write_forever(self) -> None:
        try:
            while True:
                item = self._queue.get()
                stop = item is None
                lines = [] if item is None else [item]
                if not stop and self._linger > 0:
                    self._stopping.wait(self._linger)  # returns at once when closing
                while not stop:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                    else:
                        lines.append(more)
                self._write(lines)
                if stop:
                    return
        finally:
            self._file.close()

    def _line(self, item: _Item) -> str:
        event, arguments = item
        if arguments is not None and self._key:
            event = {**event, "arguments_hmac": hash_arguments(arguments, self._key)}
        return json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"

    def _write(self, items: list[_Item]) -> None:
        if not items:
            return
        try:
            self._file.write("".join(self._line(item) for item in items))
            self._file.flush()
        except OSError as exc:
            print(f"callgate: cannot write audit log {self.path}: {exc}", file=sys.stderr)


class NullAuditSink:
    """Discards events (used when auditing is switched off)."""

    def record(self, event: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> None:
        """Drop the event."""

    async def aclose(self) -> None:
        """Nothing to flush."""
