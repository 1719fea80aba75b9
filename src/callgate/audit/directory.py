"""The audit directory on disk: preparing it, listing its writers, verifying their chains.

`--audit PATH` names a directory; every process writing to it keeps its own chain there
(see `callgate.audit.layout`). Before chained logs, PATH was one JSON-lines file:
`prepare_directory` moves such a file aside (to `<stem>.unchained.jsonl` beside it, kept
unchanged and still readable by `callgate status` and `callgate audit`) and makes PATH the
directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from callgate.audit.chain import Checkpoint, CheckpointError, read_checkpoint
from callgate.audit.layout import Listing, WriterFiles, checkpoint_file_name, list_layout
from callgate.audit.verification import ChainCheck, WriterReport
from callgate.errors import CallgateError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no liveness locks
    fcntl = None  # type: ignore[assignment]


class AuditSetupError(CallgateError):
    """The audit directory cannot be used (not writable, or an old log in the way)."""

    code = "audit.setup"


def unchained_name(path: Path) -> Path:
    """Where `prepare_directory` moves an old single-file log at `path`."""
    stem = path.stem if path.suffix == ".jsonl" else path.name
    return path.with_name(f"{stem}.unchained.jsonl")


def prepare_directory(path: Path) -> str | None:
    """Make `path` an audit directory; returns a note for the operator when an old
    single-file log had to be moved aside first. `AuditSetupError` says why it cannot."""
    note = None
    try:
        if path.is_file():
            note = _move_aside(path)
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write in {path}")
    except OSError as error:
        raise AuditSetupError(f"cannot use the audit directory {path}: {error}") from None
    return note


def _move_aside(path: Path) -> str | None:
    target = unchained_name(path)
    try:
        # link + unlink rather than rename: neither ever moves a directory, so two
        # processes migrating at once cannot move the one the other just made.
        os.link(path, target)
        path.unlink()
    except FileExistsError:
        raise AuditSetupError(
            f"{path} is an audit log from before chained logs, and {target} (where it would "
            "be moved) exists already: move one of them away"
        ) from None
    except FileNotFoundError:
        return None  # another process moved it
    return (
        f"moved the audit log {path} (one file, from before chained logs) to {target}; "
        f"{path} is now a directory with one chained log per writer"
    )


def list_directory(path: Path) -> Listing:
    """The writers and stray `.jsonl` files of the audit directory at `path`."""
    return list_layout(entry.name for entry in path.iterdir())


def writer_running(file: Path) -> bool | None:
    """Whether a writer holds `file` (its current chain file) locked; None: cannot tell."""
    if fcntl is None:
        return None
    try:
        with file.open("rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def load_checkpoint(
    directory: Path, writer: str, key: bytes
) -> tuple[Checkpoint | None, str | None]:
    """The writer's checkpoint, or why it cannot be used (None, None: there is none)."""
    try:
        content = (directory / checkpoint_file_name(writer)).read_bytes()
    except FileNotFoundError:
        return None, None
    try:
        return read_checkpoint(content, key), None
    except CheckpointError as error:
        return None, f"cannot be trusted: {error}"


@dataclass
class Verification:
    """What `verify_directory` found, writer by writer."""

    directory: Path
    reports: list[WriterReport] = field(default_factory=list)
    strangers: list[str] = field(default_factory=list)
    """`.jsonl` files that no writer made (planted, or an old log moved in)."""

    @property
    def intact(self) -> bool:
        """Every chain unbroken and no stray log files."""
        return not self.strangers and all(report.intact for report in self.reports)


def verify_writer(directory: Path, files: WriterFiles, key: bytes) -> WriterReport:
    """Follow one writer's chain through its files and check it against its checkpoint."""
    checkpoint, problem = load_checkpoint(directory, files.writer, key)
    if checkpoint is not None and checkpoint.file > max(files.numbers, default=0):
        # A running writer rotated since the listing: its checkpoint is newer than it.
        files = list_directory(directory).writers.get(files.writer, files)
    check = ChainCheck(key, files.writer, checkpoint, problem)
    for number in files.numbers:
        if check.done:
            break
        name = files.file_name(number)
        with (directory / name).open("rb") as handle:
            check.file(number, name, handle)
    running = (
        writer_running(directory / files.file_name(files.numbers[-1])) if files.numbers else False
    )
    return check.finish(running)


def verify_directory(directory: Path, key: bytes, only: Iterable[str] = ()) -> Verification:
    """Verify every writer's chain in `directory` (or the writers named in `only`)."""
    listing = list_directory(directory)
    wanted = set(only)
    verification = Verification(directory, strangers=list(listing.strangers))
    for writer, files in listing.writers.items():
        if not wanted or writer in wanted:
            verification.reports.append(verify_writer(directory, files, key))
    return verification
