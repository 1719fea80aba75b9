"""Checking one writer's chain (pure: lines and a checkpoint in, a report out).

`ChainCheck` is fed the writer's files in order, each as an iterable of lines, and then
told whether the writer is still running. It follows the chain line by line (`seq` one
more each time, `prev` the hash of the line before) and stops at the first break, which it
names after looking at the lines that follow:

    edited      a record changed: the next record (or the checkpoint) no longer chains to it
    deleted     records or whole files are missing: `seq` jumps ahead, and the missing one
                does not come later
    reordered   `seq` jumps ahead and the skipped record comes later
    inserted    a line that is not the expected record, after which the chain goes on as
                if it were not there (a copy of a record, a forged one, a stray line)
    truncated   the chain ends before the seq its signed checkpoint vouches for, or a
                record follows the seal of a chain the writer closed

A chain whose writer stopped without closing it (SIGKILL, a crash, a power cut) is not
broken, but the records after its last checkpoint cannot be proven complete: the report
says where the chain stops (file, line, seq) and how far the checkpoint reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from callgate.audit.chain import Checkpoint, genesis, link_hash, parse_link

LOOKAHEAD = 100_000
"""How many lines after a break are examined to name it (a few bytes each)."""


class Problem(StrEnum):
    """What broke a chain."""

    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    INSERTED = "inserted"
    TRUNCATED = "truncated"
    CHECKPOINT = "checkpoint"
    """The checkpoint file is missing, unreadable, or its signature does not match."""


class State(StrEnum):
    """How a writer left its chain."""

    SEALED = "sealed"
    """Closed in order: every record is vouched for."""
    RUNNING = "running"
    """Still writing (it holds its file's lock)."""
    STOPPED = "stopped"
    """Stopped without closing (killed or crashed): records after the last checkpoint are
    unconfirmed."""
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a line is: the file's name and its 1-based line number."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Finding:
    """The first break in a chain: what, where, and in words."""

    problem: Problem
    message: str
    position: Position | None = None
    seq: int | None = None


@dataclass
class WriterReport:
    """What verifying one writer found."""

    writer: str
    records: int = 0
    files: int = 0
    state: State = State.EMPTY
    finding: Finding | None = None
    end: Position | None = None
    """The last record's place."""
    last_seq: int = 0
    checkpoint_seq: int | None = None
    torn: bool = False
    """The last line was cut short (a write interrupted by a kill)."""

    @property
    def intact(self) -> bool:
        """No break found (a stopped writer's chain is intact as far as it goes)."""
        return self.finding is None

    def describe(self) -> str:
        """One line on how the chain ends, for a chain without a break."""
        where = f"ends at seq {self.last_seq} ({self.end})" if self.end else "has no records"
        if self.state is State.SEALED:
            return f"sealed: {self.records} records, chain {where}"
        if self.state is State.RUNNING:
            return (
                f"running: {self.records} records so far, chain {where}, "
                f"checkpointed up to seq {self.checkpoint_seq}"
            )
        if self.state is State.STOPPED:
            torn = "; its last line was cut short and is not counted" if self.torn else ""
            return (
                f"stopped without closing (killed or crashed): chain {where}; checkpointed "
                f"up to seq {self.checkpoint_seq}, records after it are unconfirmed{torn}"
            )
        return "no records"


@dataclass(slots=True)
class _Line:
    position: Position
    data: bytes
    link: tuple[int, str] | None
    hash: str = ""


@dataclass
class ChainCheck:
    """Follows one writer's chain; feed `file` for each chain file in order, then `finish`."""

    key: bytes
    writer: str
    checkpoint: Checkpoint | None
    checkpoint_problem: str | None = None
    """Why the checkpoint could not be used (unreadable, wrong signature); None if fine."""
    report: WriterReport = field(init=False)
    _seq: int = field(init=False, default=0)
    _prev: str = field(init=False)
    _last: _Line | None = field(init=False, default=None)
    _number: int = field(init=False, default=0)
    _anomaly: _Line | None = field(init=False, default=None)
    _missing_file: str | None = field(init=False, default=None)
    _after: list[_Line] = field(init=False, default_factory=list)
    _vouched: str | None = field(init=False, default=None)
    _vouched_at: Position | None = field(init=False, default=None)
    _incomplete: _Line | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.report = WriterReport(self.writer)
        self._prev = genesis(self.key, self.writer)

    def file(self, number: int, name: str, lines: Iterable[bytes]) -> None:
        """Check file `number` (named `name`) of the chain, line by line."""
        self.report.files += 1
        if self._anomaly is None and number != self._number + 1:
            missing = self._number + 1
            self._missing_file = f"{self.writer}.{missing:06d}.jsonl"
        self._number = number
        if self._anomaly is not None:
            self._collect(name, lines)
            return
        key, seq, prev = self.key, self._seq, self._prev
        vouch = self.checkpoint.seq if self.checkpoint is not None else -1
        good, last_data = 0, b""
        for index, raw in enumerate(lines, 1):
            if self._incomplete is not None:  # a cut line, and yet more lines follow
                self._anomaly, self._incomplete = self._incomplete, None
            if self._anomaly is not None:
                if self.done:
                    break
                self._collect(name, [raw], start=index)
                continue
            data = raw[:-1] if raw.endswith(b"\n") else raw
            link = parse_link(data)
            if link is None or link[0] != seq + 1 or link[1] != prev or self._missing_file:
                line = _Line(Position(name, index), data, link)
                if raw.endswith(b"\n"):
                    self._anomaly = line
                else:
                    self._incomplete = line
                continue
            seq += 1
            prev = link_hash(key, data)
            good, last_data = index, data
            if seq == vouch:
                self._vouched, self._vouched_at = prev, Position(name, index)
        self._seq, self._prev = seq, prev
        if last_data:
            self._last = _Line(Position(name, good), last_data, None)

    @property
    def done(self) -> bool:
        """Nothing more to learn from further lines (a break was found and looked past)."""
        return self._anomaly is not None and len(self._after) >= LOOKAHEAD

    def _collect(self, name: str, lines: Iterable[bytes], start: int = 1) -> None:
        for index, raw in enumerate(lines, start):
            if len(self._after) >= LOOKAHEAD:
                return
            data = raw[:-1] if raw.endswith(b"\n") else raw
            # The first lines' hashes tell an inserted line from a reordered one.
            digest = link_hash(self.key, data) if len(self._after) < 2 else ""
            self._after.append(_Line(Position(name, index), b"", parse_link(data), digest))

    def finish(self, running: bool | None) -> WriterReport:
        """The report; `running` says whether the writer still holds its lock (None:
        unknown on this platform)."""
        report = self.report
        report.last_seq = self._seq
        report.records = self._seq
        report.end = self._last.position if self._last is not None else None
        report.checkpoint_seq = self.checkpoint.seq if self.checkpoint is not None else None
        if self._anomaly is not None:
            report.finding = self._name_break(self._anomaly)
            return report
        if self._missing_file is not None:
            report.finding = Finding(
                Problem.DELETED,
                f"file {self._missing_file} is missing (deleted); the chain before it ends "
                f"at seq {self._seq}",
                report.end,
                self._seq + 1,
            )
            return report
        report.torn = self._incomplete is not None
        report.finding = self._check_end(running)
        return report

    def _check_end(self, running: bool | None) -> Finding | None:
        report = self.report
        checkpoint = self.checkpoint
        if self.checkpoint_problem is not None:
            return Finding(
                Problem.CHECKPOINT,
                f"the checkpoint of writer {self.writer} {self.checkpoint_problem}",
            )
        if checkpoint is None:
            if running and self._seq <= 1:
                report.state = State.RUNNING  # its first checkpoint is being written
                return None
            return Finding(
                Problem.CHECKPOINT,
                f"the checkpoint of writer {self.writer} is missing (deleted); the chain "
                f"ends at seq {self._seq} ({report.end})",
            )
        if checkpoint.seq > self._seq:
            file = f"{self.writer}.{checkpoint.file:06d}.jsonl"
            lost = "" if checkpoint.file <= self._number else f" (file {file} is missing)"
            return Finding(
                Problem.TRUNCATED,
                f"the chain ends at seq {self._seq} ({report.end}) but its checkpoint of "
                f"{checkpoint.time} vouches for seq {checkpoint.seq}{lost}: "
                f"{_records(checkpoint.seq - self._seq)} cut off",
                report.end,
                self._seq + 1,
            )
        if checkpoint.seq > 0 and self._vouched != checkpoint.hash:
            return Finding(
                Problem.EDITED,
                f"record seq {checkpoint.seq} ({self._vouched_at}) was edited: it does not "
                "match the checkpoint",
                self._vouched_at,
                checkpoint.seq,
            )
        if checkpoint.seq == 0 and checkpoint.hash != genesis(self.key, self.writer):
            return Finding(Problem.CHECKPOINT, "the checkpoint does not belong to this writer")
        if checkpoint.sealed:
            if self._seq > checkpoint.seq:
                return Finding(
                    Problem.INSERTED,
                    f"{_records(self._seq - checkpoint.seq)} after seq {checkpoint.seq}, "
                    "where the writer sealed its chain",
                    report.end,
                    checkpoint.seq + 1,
                )
            report.state = State.SEALED
            return None
        report.state = State.RUNNING if running else State.STOPPED
        return None

    def _chain_goes_on_without(self, bad: _Line) -> bool:
        """Whether the chain continues as if `bad` were not there (it was inserted)."""
        after = self._after
        if not after or after[0].link != (self._seq + 1, self._prev):
            return False
        return len(after) < 2 or after[1].link == (self._seq + 2, after[0].hash)

    def _name_break(self, bad: _Line) -> Finding:
        expected = self._seq + 1
        after = self._after
        before = self._last.position if self._last is not None else None
        if self._missing_file is not None and bad.link is not None and bad.link[0] >= expected:
            gone = (
                f"records seq {expected}..{bad.link[0] - 1} are gone"
                if bad.link[0] > expected
                else "it held no records"
            )
            return Finding(
                Problem.DELETED,
                f"file {self._missing_file} is missing (deleted): {gone}",
                bad.position,
                expected,
            )
        skipped = self._chain_goes_on_without(bad)
        if bad.link is None:
            if skipped:
                return Finding(
                    Problem.INSERTED,
                    f"{bad.position} is not a record of this chain (a line was inserted)",
                    bad.position,
                )
            return Finding(
                Problem.EDITED,
                f"{bad.position} is not a record written by callgate any more (expected seq "
                f"{expected}; the line was edited)",
                bad.position,
                expected,
            )
        seq = bad.link[0]
        copy = self._last is not None and bad.data == self._last.data
        if skipped:
            what = f"is a copy of record seq {seq}" if copy else f"claims seq {seq}"
            return Finding(
                Problem.INSERTED,
                f"{bad.position} {what} but is not part of the chain, which goes on after it "
                "(a record was inserted)",
                bad.position,
                seq,
            )
        if seq != expected and after and after[0].link and after[0].link[0] == expected + 1:
            return Finding(
                Problem.EDITED,
                f"record seq {expected} ({bad.position}) was edited: its seq now reads {seq}",
                bad.position,
                expected,
            )
        if seq == expected:
            if expected == 1:
                return Finding(
                    Problem.EDITED,
                    f"the first record ({bad.position}) does not start writer {self.writer}'s "
                    "chain (edited, or copied from another writer)",
                    bad.position,
                    1,
                )
            return Finding(
                Problem.EDITED,
                f"record seq {expected - 1} ({before}) was edited: record seq {seq} "
                f"({bad.position}) no longer chains to it",
                before,
                expected - 1,
            )
        if seq > expected:
            later = next((line for line in after if line.link and line.link[0] == expected), None)
            if later is not None:
                return Finding(
                    Problem.REORDERED,
                    f"record seq {seq} ({bad.position}) comes before seq {expected} "
                    f"({later.position}): records were reordered",
                    bad.position,
                    seq,
                )
            gone = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
            return Finding(
                Problem.DELETED,
                f"record {gone} {'is' if seq == expected + 1 else 'are'} missing "
                f"(deleted) before {bad.position}",
                bad.position,
                expected,
            )
        what = "a copy of" if copy else "a record claiming"
        return Finding(
            Problem.INSERTED,
            f"{bad.position} is {what} seq {seq} where seq {expected} should be (inserted)",
            bad.position,
            seq,
        )


def _records(count: int) -> str:
    return "1 record was" if count == 1 else f"{count} records were"
