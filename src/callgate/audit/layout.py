"""How an audit directory is laid out: writers, their chain files and checkpoints (pure).

Each process that writes to the directory is one writer with its own chain:

    20261125T081845Z-4121-9f3a.000001.jsonl     the writer's records, file 1
    20261125T081845Z-4121-9f3a.000002.jsonl     after a rotation (size or a new UTC day)
    20261125T081845Z-4121-9f3a.checkpoint.json  how far the chain got, signed

A writer's name is its start time (UTC), process id and a random suffix, so names sort by
start time and two processes never share one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

CHAIN_SUFFIX = ".jsonl"
CHECKPOINT_SUFFIX = ".checkpoint.json"
_CHAIN_NAME = re.compile(r"^(?P<writer>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<number>[0-9]{6,})\.jsonl$")
_CHECKPOINT_NAME = re.compile(r"^(?P<writer>[A-Za-z0-9][A-Za-z0-9_-]*)\.checkpoint\.json$")


def writer_name(now: float, pid: int, token: str) -> str:
    """A new writer's name from its start time, process id and a random `token` (hex)."""
    started = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{started}-{pid}-{token}"


def chain_file_name(writer: str, number: int) -> str:
    """The name of file `number` (1, 2, ...) of `writer`'s chain."""
    return f"{writer}.{number:06d}{CHAIN_SUFFIX}"


def checkpoint_file_name(writer: str) -> str:
    """The name of `writer`'s checkpoint file."""
    return f"{writer}{CHECKPOINT_SUFFIX}"


@dataclass
class WriterFiles:
    """The files one writer left in the directory."""

    writer: str
    numbers: list[int] = field(default_factory=list)
    """Its chain files' numbers, ascending (gaps mean deleted files)."""
    has_checkpoint: bool = False

    def file_name(self, number: int) -> str:
        """The name of this writer's chain file `number`."""
        return chain_file_name(self.writer, number)


@dataclass
class Listing:
    """An audit directory's files, by writer; `strangers` are `.jsonl` files no writer made."""

    writers: dict[str, WriterFiles] = field(default_factory=dict)
    strangers: list[str] = field(default_factory=list)


def list_layout(names: Iterable[str]) -> Listing:
    """Sort a directory's file names into writers, their chain files and checkpoints."""
    listing = Listing()
    for name in sorted(names):
        if match := _CHAIN_NAME.match(name):
            files = listing.writers.setdefault(match["writer"], WriterFiles(match["writer"]))
            files.numbers.append(int(match["number"]))
        elif match := _CHECKPOINT_NAME.match(name):
            files = listing.writers.setdefault(match["writer"], WriterFiles(match["writer"]))
            files.has_checkpoint = True
        elif name.endswith(CHAIN_SUFFIX):
            listing.strangers.append(name)
    for files in listing.writers.values():
        files.numbers.sort()
    return listing
