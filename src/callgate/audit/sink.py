"""The audit log's writers: where decisions go, off the hot path (the edge of the package).

`JsonlAuditSink.record` only puts the event on a queue. A background thread takes what is
queued in bursts and hands each burst to a `ChainWriter`, which builds the records (the
arguments redacted or hashed as the policy says, `build_event` already done by the caller),
chains them, appends them to the writer's current file, flushes, and rewrites the signed
checkpoint. Rotation starts a new file when the current one would pass `max_file_bytes` or
the records reach a new UTC day; the chain runs on across files. `aclose` drains the queue
and seals the chain (a final checkpoint with `sealed: true`), so an orderly shutdown loses
nothing; after a SIGKILL at most the burst being written is missing, and `callgate audit
verify` says where the chain stops.

The writer holds an exclusive `flock` on its current file while it runs, so a verifier can
tell a running writer from one that stopped without closing.
"""

from __future__ import annotations

import os
import queue
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import anyio.to_thread

from callgate.audit.chain import Checkpoint, genesis, key_id, link_hash
from callgate.audit.layout import chain_file_name, checkpoint_file_name, writer_name
from callgate.audit.record import encode_record, format_time, with_time
from callgate.audit.redaction import DEFAULT_RECORDING, ArgumentRecording

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no liveness locks
    fcntl = None  # type: ignore[assignment]

KEY_BYTES = 32
MAX_FILE_BYTES = 64 * 1024 * 1024
"""A chain file is rotated before it would grow past this (64 MiB)."""

_Item = tuple[Mapping[str, Any], Mapping[str, Any] | None, ArgumentRecording]


class AuditSink(Protocol):
    """Where decisions go."""

    def record(self, event: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> None:
        """Queue one event (and the call's arguments, recorded as the policy says); never
        blocks on I/O."""
        ...

    async def aclose(self) -> None:
        """Write every queued event and release the file."""
        ...


def load_install_key(path: Path) -> bytes:
    """The per-install HMAC key at `path`, created (mode 0600) on first use."""
    try:
        return read_install_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    # Written whole under another name, then linked into place: a process starting at the
    # same moment sees no key or the whole key, never an empty file.
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(key.hex())
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(staging, path)
        except FileExistsError:
            # Another process created it first; use theirs so hashes stay comparable.
            return read_install_key(path)
        except OSError:  # a file system without hard links: create it in place
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(key.hex())
    finally:
        staging.unlink()
    return key


def read_install_key(path: Path) -> bytes:
    """The key at `path` (hex); never creates one (`FileNotFoundError` when missing,
    `ValueError` when the file does not hold a key)."""
    key = bytes.fromhex(path.read_text().strip())
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} does not hold a {KEY_BYTES}-byte key ({len(key)} bytes)")
    return key


class ChainWriter:
    """Appends chained records to one writer's files in `directory` (synchronous).

    Files are created on the first record, so a process that decides nothing leaves none.
    Not thread-safe: one thread writes.
    """

    def __init__(
        self,
        directory: Path,
        key: bytes,
        *,
        writer: str | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Write as `writer` (default: a new name from the time and process id)."""
        if not key:
            raise ValueError("the audit chain needs a key")
        self.directory = directory
        self.writer = writer or writer_name(clock(), os.getpid(), secrets.token_hex(2))
        self.max_file_bytes = max_file_bytes
        self._key = key
        self._key_id = key_id(key)
        self._clock = clock
        self.seq = 0
        self.last_hash = genesis(key, self.writer)
        self.number = 0
        self._file: IO[bytes] | None = None
        self._size = 0
        self._day = ""

    @property
    def path(self) -> Path | None:
        """The current chain file (None before the first record)."""
        return self.directory / chain_file_name(self.writer, self.number) if self.number else None

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Chain `records`, append them (rotating as needed), flush, and checkpoint."""
        if not records:
            return
        pending: list[bytes] = []
        pending_bytes = 0
        for fields in records:
            day = str(fields.get("time", ""))[:10]
            line = encode_record(self.seq + 1, self.last_hash, fields)
            if self._file is None or self._rotates(day, pending_bytes, len(line) + 1):
                self._append(pending)
                pending, pending_bytes = [], 0
                self._open_next(day)
            pending.append(line + b"\n")
            pending_bytes += len(line) + 1
            self.seq += 1
            self.last_hash = link_hash(self._key, line)
        self._append(pending)
        self._checkpoint(sealed=False)

    def close(self) -> None:
        """Seal the chain (when it has records) and release the file."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._checkpoint(sealed=True, sync=True)
        self._file.close()
        self._file = None

    def _rotates(self, day: str, pending: int, adding: int) -> bool:
        """Whether a line of `adding` bytes dated `day` starts a new file (`pending` bytes
        are waiting to be written to the current one)."""
        if day and self._day and day != self._day:
            return True
        used = self._size + pending
        return used > 0 and used + adding > self.max_file_bytes

    def _append(self, lines: list[bytes]) -> None:
        if not lines or self._file is None:
            return
        data = b"".join(lines)
        self._file.write(data)
        self._file.flush()
        self._size += len(data)

    def _open_next(self, day: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.number += 1
        assert self.path is not None
        opened = self.path.open("xb")
        if fcntl is not None:
            # Blocking: a verifier may hold a shared lock on the new file for an instant.
            fcntl.flock(opened.fileno(), fcntl.LOCK_EX)
        previous, self._file = self._file, opened
        if previous is not None:
            previous.close()  # releases its lock; the new file holds the writer's
        self._size = 0
        self._day = day

    def _checkpoint(self, *, sealed: bool, sync: bool = False) -> None:
        checkpoint = Checkpoint(
            writer=self.writer,
            file=self.number,
            seq=self.seq,
            hash=self.last_hash,
            time=format_time(self._clock()),
            sealed=sealed,
            key_id=self._key_id,
        )
        target = self.directory / checkpoint_file_name(self.writer)
        staging = target.with_name(target.name + ".tmp")
        with staging.open("wb") as file:
            file.write(checkpoint.sign(self._key))
            if sync:
                file.flush()
                os.fsync(file.fileno())
        staging.replace(target)


class JsonlAuditSink:
    """Writes events to a chained JSON-lines log in a directory, from a background thread."""

    def __init__(
        self,
        directory: Path,
        key: bytes,
        *,
        recording: Callable[[], ArgumentRecording] = lambda: DEFAULT_RECORDING,
        linger: float = 0.02,
        max_file_bytes: int = MAX_FILE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Write into `directory` under `key`; `recording` says, per call, how the policy
        in force wants arguments kept.

        After the first event of a burst the writer waits `linger` seconds for more, so a
        busy proxy wakes it (and pays for a write) once per burst, not once per call.
        """
        self.directory = directory
        self.chain = ChainWriter(directory, key, max_file_bytes=max_file_bytes, clock=clock)
        self._key = key
        self._recording = recording
        self._linger = linger
        self._clock = clock
        self._stopping = threading.Event()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._write_forever, name="audit", daemon=True)
        self._thread.start()

    def record(self, event: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> None:
        """Queue one event for writing (with `arguments`, recorded as the policy says)."""
        if not self._closed:
            self._queue.put((event, arguments, self._recording()))

    async def aclose(self) -> None:
        """Write everything queued, seal the chain, then close the file."""
        if self._stop():
            await anyio.to_thread.run_sync(self._thread.join)

    def close(self) -> None:
        """The blocking form of `aclose`, for shutdown paths without an event loop."""
        if self._stop():
            self._thread.join()

    def _stop(self) -> bool:
        if self._closed:
            return False
        self._closed = True
        self._stopping.set()
        self._queue.put(None)
        return True

    def _write_forever(self) -> None:
        try:
            while True:
                item = self._queue.get()
                stop = item is None
                items = [] if item is None else [item]
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
                        items.append(more)
                self._write(items)
                if stop:
                    return
        finally:
            self._guarded(self.chain.close)

    def _fields(self, item: _Item) -> Mapping[str, Any]:
        event, arguments, recording = item
        event = with_time(event, self._clock())
        if arguments is None:
            return event
        try:
            return {**event, **recording.fields(arguments, self._key)}
        except (ValueError, TypeError, RecursionError) as error:
            return {**event, "arguments": f"[not recorded: {error}]"}

    def _write(self, items: list[_Item]) -> None:
        if items:
            self._guarded(lambda: self.chain.write([self._fields(item) for item in items]))

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except OSError as exc:
            print(f"callgate: cannot write the audit log {self.directory}: {exc}", file=sys.stderr)


class NullAuditSink:
    """Discards events (used when auditing is switched off)."""

    def record(self, event: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> None:
        """Drop the event."""

    async def aclose(self) -> None:
        """Nothing to flush."""
