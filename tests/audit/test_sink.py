"""The audit trail: keyed argument hashes, the install key, and nothing lost on close."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import anyio

from callgate.proxy.audit import JsonlAuditSink, build_event, hash_arguments, load_install_key


def test_argument_hash_is_canonical_and_keyed() -> None:
    key = b"k" * 32
    assert hash_arguments({"a": 1, "b": [1, 2]}, key) == hash_arguments({"b": [1, 2], "a": 1}, key)
    assert hash_arguments({"a": 1}, key) != hash_arguments({"a": 2}, key)
    assert hash_arguments({"a": 1}, key) != hash_arguments({"a": 1}, b"j" * 32)


def test_install_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "audit.key"
    first = load_install_key(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_install_key(path) == first


def test_every_queued_record_is_written_by_close(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonlAuditSink(path)
    for number in range(2000):
        sink.record(
            build_event(
                now=1_800_000_000.0,
                server="s",
                session="x",
                agent="a",
                method="tools/call",
                tool=f"t{number}",
                decision="allow",
                rule=None,
                reason="",
                arguments_hmac=None,
            )
        )
    anyio.run(sink.aclose)
    tools = [json.loads(line)["tool"] for line in path.read_text().splitlines()]
    assert tools == [f"t{number}" for number in range(2000)]
    sink.record({"after": "close"})  # ignored, not an error
    assert len(path.read_text().splitlines()) == 2000


def test_the_writer_fills_in_the_arguments_hash(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonlAuditSink(path, key=b"k" * 32)
    event = build_event(
        now=1_800_000_000.0,
        server="s",
        session="x",
        agent="a",
        method="tools/call",
        tool="pay",
        decision="deny",
        rule="r",
        reason="no",
    )
    sink.record(event, arguments={"amount": 5})
    sink.record(event)
    anyio.run(sink.aclose)
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["arguments_hmac"] == hash_arguments({"amount": 5}, b"k" * 32)
    assert second["arguments_hmac"] is None
    assert "amount" not in path.read_text()
