"""The audit writer on real files: the install key, nothing lost on close, the chain across
rotations, checkpoints, several writers in one directory, arguments as the policy says."""

from __future__ import annotations

import itertools
import json
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from callgate.audit.chain import genesis, link_hash, read_checkpoint
from callgate.audit.directory import (
    AuditSetupError,
    list_directory,
    prepare_directory,
    verify_directory,
    verify_writer,
    writer_running,
)
from callgate.audit.reading import read_records
from callgate.audit.record import build_event, hash_arguments
from callgate.audit.redaction import ArgumentsMode, compile_recording
from callgate.audit.sink import ChainWriter, JsonlAuditSink, load_install_key
from callgate.audit.verification import State

KEY = b"k" * 32
DAY = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _event(number: int, now: float = DAY) -> dict[str, Any]:
    return build_event(
        now=now,
        server="s",
        session="x",
        agent="a",
        method="tools/call",
        tool=f"t{number}",
        decision="allow",
        rule=None,
        reason="",
    )


def _chain_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def test_install_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.key"
    first = load_install_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_install_key(path) == first


def test_processes_starting_together_all_get_the_one_whole_key(tmp_path: Path) -> None:
    # Regression: a process could read the key file another had just created but not
    # written yet, and chain its log under an empty key (or fail to start). Two processes
    # (as many as this machine runs at once) ask for a new key at the same moment, 40 times.
    program = (
        "import sys; from pathlib import Path; from callgate.audit.sink import load_install_key\n"
        "for line in sys.stdin:\n"
        "    print(load_install_key(Path(line.strip())).hex(), flush=True)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", program],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for round_ in range(40):
            path = tmp_path / f"data{round_}" / "audit.key"
            for process in processes:  # both waiting: released at once
                assert process.stdin is not None
                process.stdin.write(f"{path}\n")
                process.stdin.flush()
            keys = {p.stdout.readline().strip() for p in processes if p.stdout is not None}
            assert keys == {path.read_text()}, round_
            assert [entry.name for entry in path.parent.iterdir()] == ["audit.key"]
    finally:
        for process in processes:
            process.communicate(timeout=60)


def test_every_queued_record_is_written_by_close_and_the_chain_sealed(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path, KEY)
    for number in range(2000):
        sink.record(_event(number))
    anyio.run(sink.aclose)
    records = read_records(tmp_path)
    assert [r["tool"] for r in records] == [f"t{number}" for number in range(2000)]
    assert [r["seq"] for r in records] == list(range(1, 2001))
    sink.record({"after": "close"})  # ignored, not an error
    assert len(read_records(tmp_path)) == 2000
    [report] = verify_directory(tmp_path, KEY).reports
    assert (report.state, report.records, report.finding) == (State.SEALED, 2000, None)


def test_a_process_that_decides_nothing_leaves_no_files(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path / "audit", KEY)
    sink.close()
    assert not (tmp_path / "audit").exists() or not any((tmp_path / "audit").iterdir())


def test_each_record_carries_the_hash_of_the_line_before(tmp_path: Path) -> None:
    writer = ChainWriter(tmp_path, KEY, writer="w1")
    writer.write([_event(0), _event(1), _event(2)])
    writer.close()
    lines = _chain_files(tmp_path)[0].read_bytes().splitlines()
    assert json.loads(lines[0])["prev"] == genesis(KEY, "w1")
    for before, after in itertools.pairwise(lines):
        assert json.loads(after)["prev"] == link_hash(KEY, before)
    checkpoint = read_checkpoint((tmp_path / "w1.checkpoint.json").read_bytes(), KEY)
    assert (checkpoint.seq, checkpoint.hash, checkpoint.sealed) == (
        3,
        link_hash(KEY, lines[-1]),
        True,
    )


def test_rotation_by_size_keeps_one_chain_across_files(tmp_path: Path) -> None:
    writer = ChainWriter(tmp_path, KEY, writer="w1", max_file_bytes=2000)
    writer.write([_event(number) for number in range(10)])
    writer.write([_event(number) for number in range(10, 25)])
    writer.close()
    files = _chain_files(tmp_path)
    assert len(files) > 3
    assert all(file.stat().st_size <= 2000 for file in files)
    for earlier, later in itertools.pairwise(files):
        last = earlier.read_bytes().splitlines()[-1]
        first = json.loads(later.read_bytes().splitlines()[0])
        assert first["prev"] == link_hash(KEY, last)  # each file starts with the last hash
        assert first["seq"] == json.loads(last)["seq"] + 1
    [report] = verify_directory(tmp_path, KEY).reports
    assert (report.state, report.records, report.files) == (State.SEALED, 25, len(files))


def test_rotation_at_a_new_utc_day(tmp_path: Path) -> None:
    writer = ChainWriter(tmp_path, KEY, writer="w1")
    writer.write([_event(0, DAY), _event(1, DAY + 60)])
    writer.write([_event(2, DAY + 86_400), _event(3, DAY + 86_460)])
    writer.close()
    days = [{r["time"][:10] for r in read_records(file)} for file in _chain_files(tmp_path)]
    assert days == [{"2027-01-15"}, {"2027-01-16"}]
    assert verify_directory(tmp_path, KEY).intact


def test_a_running_writer_holds_its_file_and_its_checkpoint_follows_each_burst(
    tmp_path: Path,
) -> None:
    writer = ChainWriter(tmp_path, KEY, writer="w1")
    writer.write([_event(0), _event(1)])
    [file] = _chain_files(tmp_path)
    assert writer_running(file) is True
    [report] = verify_directory(tmp_path, KEY).reports
    assert (report.state, report.checkpoint_seq, report.finding) == (State.RUNNING, 2, None)
    writer.close()
    assert writer_running(file) is False


def test_a_writer_that_rotates_while_being_verified_is_not_called_truncated(
    tmp_path: Path,
) -> None:
    writer = ChainWriter(tmp_path, KEY, writer="w1", max_file_bytes=1500)
    writer.write([_event(number) for number in range(3)])
    listed = list_directory(tmp_path).writers["w1"]  # what verify saw first
    writer.write([_event(number) for number in range(3, 12)])  # rotates meanwhile
    assert len(_chain_files(tmp_path)) > len(listed.numbers)
    report = verify_writer(tmp_path, listed, KEY)
    assert (report.finding, report.state, report.records) == (None, State.RUNNING, 12)
    writer.close()


def test_a_writer_gone_without_closing_is_reported_where_its_chain_stops(
    tmp_path: Path,
) -> None:
    writer = ChainWriter(tmp_path, KEY, writer="w1")
    writer.write([_event(0), _event(1)])
    writer.write([_event(2)])
    [file] = _chain_files(tmp_path)
    # What a SIGKILL leaves: the file as written, the lock released, no seal.
    with file.open("ab") as handle:
        handle.write(b'{"seq":4,"prev":"')  # a line cut short mid-write
    writer._file.close()  # type: ignore[union-attr]  # the kernel drops the lock
    [report] = verify_directory(tmp_path, KEY).reports
    assert report.finding is None
    assert (report.state, report.last_seq, report.torn) == (State.STOPPED, 3, True)
    assert str(report.end) == f"{file.name}:3"
    assert "stopped without closing" in report.describe()


def test_several_writers_in_one_directory_each_keep_their_own_chain(tmp_path: Path) -> None:
    sinks = [JsonlAuditSink(tmp_path, KEY) for _ in range(3)]
    for number in range(30):
        sinks[number % 3].record(_event(number, DAY + number))
    for sink in sinks:
        sink.close()
    verification = verify_directory(tmp_path, KEY)
    assert len(verification.reports) == 3
    assert verification.intact
    records = read_records(tmp_path)
    assert [r["tool"] for r in records] == [f"t{number}" for number in range(30)]  # by time
    assert sorted({r["seq"] for r in records}) == list(range(1, 11))  # seq is per writer


def _written_arguments(tmp_path: Path, mode: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    recording = compile_recording(mode)
    sink = JsonlAuditSink(tmp_path / mode, KEY, recording=lambda: recording)
    sink.record(_event(0), arguments=arguments)
    sink.close()
    [record] = read_records(tmp_path / mode)
    return record


def test_arguments_are_kept_as_the_policy_says(tmp_path: Path) -> None:
    arguments = {"user": "ada", "password": "hunter2", "amount": 5}
    hashed = _written_arguments(tmp_path, "hash", arguments)
    redacted = _written_arguments(tmp_path, "redacted", arguments)
    full = _written_arguments(tmp_path, "full", arguments)
    digest = hash_arguments(arguments, KEY)
    assert hashed["arguments_hmac"] == redacted["arguments_hmac"] == full["arguments_hmac"]
    assert hashed["arguments_hmac"] == digest
    assert "arguments" not in hashed
    assert redacted["arguments"] == {"user": "ada", "password": "[redacted]", "amount": 5}
    assert redacted["redacted"] == ["/password"]
    assert full["arguments"] == arguments
    assert "redacted" not in full
    assert "hunter2" not in "".join(p.read_text() for p in (tmp_path / "redacted").iterdir())


def test_the_mode_in_force_when_the_call_was_made_is_the_one_used(tmp_path: Path) -> None:
    modes = iter([compile_recording("full"), compile_recording("hash")])
    current = next(modes)
    sink = JsonlAuditSink(tmp_path, KEY, recording=lambda: current)
    sink.record(_event(0), arguments={"n": 1})
    current = next(modes)  # a policy reload
    sink.record(_event(1), arguments={"n": 2})
    sink.close()
    first, second = read_records(tmp_path)
    assert first["arguments"] == {"n": 1}
    assert "arguments" not in second
    assert current.mode is ArgumentsMode.HASH


def test_events_without_a_time_get_one(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path, KEY, clock=lambda: DAY)
    sink.record({"event": "approval.approved", "approval_id": "a1", "at": DAY - 60})
    sink.record({"event": "something"})
    sink.close()
    first, second = read_records(tmp_path)
    assert first["time"] == "2027-01-15T07:59:00.000+00:00"
    assert second["time"] == "2027-01-15T08:00:00.000+00:00"


def test_an_old_single_file_log_is_moved_aside(tmp_path: Path) -> None:
    old = tmp_path / "audit.jsonl"
    old.write_text('{"decision": "allow"}\n')
    note = prepare_directory(old)
    assert note is not None and "audit.unchained.jsonl" in note
    assert old.is_dir()
    assert (tmp_path / "audit.unchained.jsonl").read_text() == '{"decision": "allow"}\n'
    assert prepare_directory(old) is None  # the second time there is nothing to move


def test_an_old_log_is_never_moved_over_another_file(tmp_path: Path) -> None:
    old = tmp_path / "audit.jsonl"
    old.write_text("old\n")
    (tmp_path / "audit.unchained.jsonl").write_text("older\n")
    with pytest.raises(AuditSetupError, match="exists already"):
        prepare_directory(old)
    assert old.read_text() == "old\n"
