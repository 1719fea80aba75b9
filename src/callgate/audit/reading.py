"""Reading records back: from an audit directory (every writer) or from one log file.

Records come out in time order: each writer's in its own order, writers merged by time.
A plain file (one chain file, or a log from before chained logs) is read as it is.
Filtering uses `RecordFilter`: whole files outside the time range are skipped after a
look at their first and last lines, and lines that cannot match are not parsed.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from callgate.audit.directory import list_directory
from callgate.audit.query import RecordFilter, record_time

Record = dict[str, Any]
_TAIL_BLOCK = 64 * 1024
EVERYTHING = RecordFilter()


def log_files(path: Path) -> list[tuple[str | None, list[Path]]]:
    """The files to read, per writer (its name, its files in chain order); a plain file,
    or a stray `.jsonl` in the directory, is a source of its own without a writer."""
    if not path.is_dir():
        return [(None, [path])]
    listing = list_directory(path)
    sources: list[tuple[str | None, list[Path]]] = [
        (writer, [path / files.file_name(number) for number in files.numbers])
        for writer, files in listing.writers.items()
        if files.numbers
    ]
    sources.extend((None, [path / name]) for name in listing.strangers)
    return sources


def _parse(line: bytes) -> Record | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _edge_times(file: Path) -> tuple[str, str]:
    """The times of a file's first and last records ("" when unknown)."""
    with file.open("rb") as handle:
        first = _parse(handle.readline())
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_BLOCK))
        lines = handle.read().splitlines()
    last = next((r for line in reversed(lines) if (r := _parse(line)) is not None), None)
    return (record_time(first) if first else "", record_time(last) if last else "")


def _matches(
    files: Iterable[Path], wanted: RecordFilter, writer: str | None = None
) -> Iterator[tuple[str, Record]]:
    timed = wanted.since is not None or wanted.until is not None
    may_match, matches = wanted.may_match, wanted.matches
    for file in files:
        try:
            if timed and not wanted.spans(*_edge_times(file)):
                continue
            with file.open("rb") as handle:
                for line in handle:
                    if not may_match(line):
                        continue
                    record = _parse(line)
                    if record is not None and matches(record):
                        if writer is not None:
                            record["writer"] = writer
                        yield record_time(record), record
        except FileNotFoundError:
            continue  # removed while we read


def query(
    path: Path, wanted: RecordFilter = EVERYTHING, *, tag_writer: bool = False
) -> Iterator[Record]:
    """The records at `path` that `wanted` keeps, in time order; `tag_writer` adds each
    record's `writer` (the process that wrote it: `seq` counts per writer)."""
    streams = [
        _matches(files, wanted, writer if tag_writer else None) for writer, files in log_files(path)
    ]
    if not streams:
        return
    merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=itemgetter(0))
    for _, record in merged:
        yield record


def read_records(path: Path) -> list[Record]:
    """Every record of the log at `path`, in time order (for tests and small logs)."""
    return list(query(path))


def text_lines(path: Path) -> Iterator[str]:
    """Every line of every file of the log (for summaries that read lines themselves)."""
    for _, files in log_files(path):
        for file in files:
            with file.open(encoding="utf-8", errors="replace") as handle:
                yield from handle


def _reverse_lines(file: Path, end: int | None = None) -> Iterator[bytes]:
    """The complete lines of `file` up to byte `end` (default: all), last first."""
    with file.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = size if end is None else min(end, size)
        rest = b""
        while end > 0:
            start = max(0, end - _TAIL_BLOCK)
            handle.seek(start)
            block = handle.read(end - start) + rest
            end = start
            lines = block.split(b"\n")
            rest = lines.pop(0) if start > 0 else b""
            for line in reversed(lines):
                if line:
                    yield line


def snapshot(path: Path) -> dict[Path, int]:
    """How long each file of the log is now: where following it starts."""
    sizes: dict[Path, int] = {}
    for _, files in log_files(path):
        for file in files:
            sizes[file] = file.stat().st_size
    return sizes


def last_records(
    path: Path,
    count: int,
    wanted: RecordFilter = EVERYTHING,
    upto: dict[Path, int] | None = None,
) -> list[Record]:
    """The last `count` records `wanted` keeps, oldest first; with `upto` (a `snapshot`),
    only what the files held then."""
    found: list[tuple[str, Record]] = []
    for _, files in log_files(path):
        mine = 0
        for file in reversed(files):
            if upto is not None and file not in upto:
                continue
            for line in _reverse_lines(file, None if upto is None else upto[file]):
                if mine >= count:
                    break
                record = _parse(line) if wanted.may_match(line) else None
                if record is not None and wanted.matches(record):
                    found.append((record_time(record), record))
                    mine += 1
    found.sort(key=itemgetter(0))
    return [record for _, record in found[-count:]] if count else []


def follow(
    path: Path,
    wanted: RecordFilter = EVERYTHING,
    *,
    since: dict[Path, int] | None = None,
    interval: float = 0.25,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Record]:
    """Records appended after the call (or after the `since` snapshot), as they come
    (every writer, new files too), until `stop()` says so; each poll's in time order."""
    # Taken now, not when the first record is asked for.
    offsets = dict(since) if since is not None else snapshot(path)
    return _poll(path, wanted, offsets, interval, stop)


def _poll(
    path: Path,
    wanted: RecordFilter,
    offsets: dict[Path, int],
    interval: float,
    stop: Callable[[], bool],
) -> Iterator[Record]:
    while not stop():
        batch: list[tuple[str, Record]] = []
        for _, files in log_files(path):
            for file in files:
                batch.extend(_new_records(file, offsets, wanted))
        batch.sort(key=itemgetter(0))
        for _, record in batch:
            yield record
        time.sleep(interval)


def _new_records(
    file: Path, offsets: dict[Path, int], wanted: RecordFilter
) -> Iterator[tuple[str, Record]]:
    start = offsets.get(file, 0)
    try:
        with file.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return
    complete = data.rfind(b"\n") + 1  # a line being written is read next time
    offsets[file] = start + complete
    for line in data[:complete].splitlines():
        record = _parse(line) if wanted.may_match(line) else None
        if record is not None and wanted.matches(record):
            yield record_time(record), record
