"""Following a chain (pure): every kind of tampering is found and named at the right place."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.audit.chain import Checkpoint, genesis, key_id, link_hash
from callgate.audit.record import encode_record
from callgate.audit.verification import ChainCheck, Problem, State, WriterReport

KEY = b"k" * 32
WRITER = "w1"

Files = list[list[bytes]]


def _chain(records: int = 12, per_file: int = 4, writer: str = WRITER) -> tuple[Files, Checkpoint]:
    """A writer's files as the writer writes them, and its sealed checkpoint."""
    files: Files = []
    prev = genesis(KEY, writer)
    for seq in range(1, records + 1):
        if (seq - 1) % per_file == 0:
            files.append([])
        line = encode_record(seq, prev, {"tool": f"t{seq}", "decision": "allow"})
        files[-1].append(line + b"\n")
        prev = link_hash(KEY, line)
    checkpoint = Checkpoint(WRITER, len(files), records, prev, "t", True, key_id(KEY))
    return files, checkpoint


def _name(number: int) -> str:
    return f"{WRITER}.{number:06d}.jsonl"


def _check(
    files: Files,
    checkpoint: Checkpoint | None,
    *,
    running: bool | None = False,
    numbers: list[int] | None = None,
    problem: str | None = None,
) -> WriterReport:
    check = ChainCheck(KEY, WRITER, checkpoint, problem)
    for number, lines in zip(numbers or range(1, len(files) + 1), files, strict=True):
        check.file(number, _name(number), lines)
    return check.finish(running)


def test_an_untouched_sealed_chain_is_intact() -> None:
    files, checkpoint = _chain()
    report = _check(files, checkpoint)
    assert report.intact and report.state is State.SEALED
    assert (report.records, report.files, str(report.end)) == (12, 3, f"{_name(3)}:4")


def test_an_edited_record_is_named_by_its_seq_and_place() -> None:
    files, checkpoint = _chain()
    files[1][1] = files[1][1].replace(b'"allow"', b'"deny"')  # seq 6
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert (report.finding.problem, report.finding.seq) == (Problem.EDITED, 6)
    assert str(report.finding.position) == f"{_name(2)}:2"


def test_an_edit_across_a_file_boundary_names_the_last_record_of_the_file_before() -> None:
    files, checkpoint = _chain()
    files[0][3] = files[0][3].replace(b'"allow"', b'"deny"')  # seq 4, last of file 1
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert (report.finding.problem, report.finding.seq) == (Problem.EDITED, 4)
    assert str(report.finding.position) == f"{_name(1)}:4"


def test_the_last_record_is_vouched_for_by_the_checkpoint() -> None:
    files, checkpoint = _chain()
    files[2][3] = files[2][3].replace(b'"allow"', b'"deny"')  # seq 12, no successor
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert (report.finding.problem, report.finding.seq) == (Problem.EDITED, 12)
    assert "does not match the checkpoint" in report.finding.message


def test_an_edited_seq_is_an_edit_not_a_deletion() -> None:
    files, checkpoint = _chain()
    files[1][0] = files[1][0].replace(b'"seq":5,', b'"seq":50,')
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert (report.finding.problem, report.finding.seq) == (Problem.EDITED, 5)


@pytest.mark.parametrize(("gone", "says"), [([5], "seq 5 is missing"), ([5, 6], "seq 5..6")])
def test_deleted_records_are_named(gone: list[int], says: str) -> None:
    files, checkpoint = _chain()
    files[1] = [line for line in files[1] if not any(f'"seq":{s},'.encode() in line for s in gone)]
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert report.finding.problem is Problem.DELETED
    assert says in report.finding.message


def test_swapped_records_are_reordered() -> None:
    files, checkpoint = _chain()
    files[1][1], files[1][2] = files[1][2], files[1][1]  # seq 6 and 7
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert report.finding.problem is Problem.REORDERED
    assert "seq 7" in report.finding.message and "before seq 6" in report.finding.message


def test_a_record_moved_far_ahead_is_reordered() -> None:
    files, checkpoint = _chain()
    moved = files[0].pop(1)  # seq 2 moved into the last file
    files[2].insert(0, moved)
    report = _check(files, checkpoint)
    assert report.finding is not None and report.finding.problem is Problem.REORDERED


@pytest.mark.parametrize(
    "line",
    [
        None,  # a copy of the record before
        encode_record(99, "0" * 64, {"tool": "forged"}) + b"\n",
        encode_record(6, "0" * 64, {"tool": "forged"}) + b"\n",  # the seq that comes next
        b"not a record\n",
    ],
    ids=["copy", "forged", "forged-next-seq", "junk"],
)
def test_an_inserted_line_is_named(line: bytes | None) -> None:
    files, checkpoint = _chain()
    files[1].insert(1, line if line is not None else files[1][0])
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert report.finding.problem is Problem.INSERTED
    assert str(report.finding.position) == f"{_name(2)}:2"


def test_a_truncated_tail_is_found_against_the_checkpoint() -> None:
    files, checkpoint = _chain()
    files[2] = files[2][:2]
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert report.finding.problem is Problem.TRUNCATED
    assert "ends at seq 10" in report.finding.message and "2 records" in report.finding.message


def test_a_deleted_last_file_is_a_truncation() -> None:
    files, checkpoint = _chain()
    report = _check(files[:2], checkpoint)
    assert report.finding is not None
    assert report.finding.problem is Problem.TRUNCATED
    assert f"{_name(3)} is missing" in report.finding.message


def test_a_deleted_middle_file_is_named() -> None:
    files, checkpoint = _chain()
    report = _check([files[0], files[2]], checkpoint, numbers=[1, 3])
    assert report.finding is not None
    assert report.finding.problem is Problem.DELETED
    assert f"{_name(2)} is missing" in report.finding.message
    assert "seq 5..8" in report.finding.message


def test_records_after_the_seal_were_inserted() -> None:
    files, checkpoint = _chain()
    report = _check(files, replace(checkpoint, seq=10, hash=_hash_of(files, 10)))
    assert report.finding is not None and report.finding.problem is Problem.INSERTED


def _hash_of(files: Files, seq: int) -> str:
    line = [line for lines in files for line in lines][seq - 1]
    return link_hash(KEY, line.rstrip(b"\n"))


def test_a_missing_or_untrusted_checkpoint_fails() -> None:
    files, _ = _chain()
    missing = _check(files, None)
    assert missing.finding is not None and missing.finding.problem is Problem.CHECKPOINT
    untrusted = _check(files, None, problem="cannot be trusted: edited")
    assert untrusted.finding is not None and "cannot be trusted" in untrusted.finding.message


def test_a_chain_from_another_writer_does_not_start_this_one() -> None:
    files, checkpoint = _chain(writer="w2")
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert "does not start writer w1's chain" in report.finding.message


def test_a_writer_that_stopped_without_closing_is_intact_up_to_where_it_stops() -> None:
    files, checkpoint = _chain()
    unsealed = replace(checkpoint, seq=10, hash=_hash_of(files, 10), sealed=False)
    files[2].append(b'{"seq":13,"prev":"ab')  # cut short by the kill
    report = _check(files, unsealed, running=False)
    assert report.finding is None
    assert (report.state, report.last_seq, report.checkpoint_seq, report.torn) == (
        State.STOPPED,
        12,
        10,
        True,
    )
    assert str(report.end) == f"{_name(3)}:4"
    assert "records after it are unconfirmed" in report.describe()
    running = _check(files, unsealed, running=True)
    assert running.finding is None and running.state is State.RUNNING


def test_a_cut_line_in_the_middle_is_not_a_torn_write() -> None:
    files, checkpoint = _chain()
    files[1][1] = files[1][1][:20]  # no newline, and more lines follow
    report = _check(files, checkpoint)
    assert report.finding is not None
    assert (report.finding.problem, report.finding.seq) == (Problem.EDITED, 6)
    assert not report.torn


@given(
    line=st.integers(0, 11),
    offset=st.integers(0, 10_000),
    byte=st.integers(0, 255),
)
def test_changing_any_byte_of_any_record_is_found(line: int, offset: int, byte: int) -> None:
    files, checkpoint = _chain()
    flat = [entry for lines in files for entry in lines]
    data = flat[line].rstrip(b"\n")
    offset %= len(data)
    if data[offset] == byte:
        byte = (byte + 1) % 256
    changed = data[:offset] + bytes([byte]) + data[offset + 1 :] + b"\n"
    file, index = divmod(line, 4)
    files[file][index] = changed
    report = _check(files, checkpoint)
    assert report.finding is not None
