"""Line framing for stdio: lines split across reads, oversize lines refused with their id."""

from __future__ import annotations

import pytest

from callgate.transports.stdio import OVERSIZE, LineReader, Oversize

pytestmark = pytest.mark.anyio


def _reader(chunks: list[bytes], max_bytes: int, keep_head: bool = True) -> LineReader:
    pending = list(chunks)

    async def read(size: int) -> bytes:
        return pending.pop(0) if pending else b""

    return LineReader(read, max_bytes, keep_head=keep_head)


async def _all(reader: LineReader) -> list[bytes | Oversize]:
    lines: list[bytes | Oversize] = []
    while (line := await reader.next()) is not None:
        lines.append(line)
    return lines


async def test_lines_split_across_reads_are_joined() -> None:
    reader = _reader([b'{"a":', b'1}\n{"b"', b":2}\n", b'{"c":3}'], 100)
    assert await _all(reader) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


async def test_oversize_line_is_skipped_and_its_id_kept() -> None:
    big = b'{"jsonrpc":"2.0","id":"req-7","method":"x","params":{"p":"' + b"z" * 500 + b'"}}'
    reader = _reader([big[:100], big[100:300], big[300:] + b"\n", b'{"ok":1}\n'], 200)
    first, second = await _all(reader)
    assert isinstance(first, Oversize)
    assert first.request_id() == "req-7"
    assert second == b'{"ok":1}'


async def test_oversize_line_at_the_end_of_the_stream() -> None:
    reader = _reader([b'{"id": 42, "pad": "' + b"y" * 300], 100)
    (only,) = await _all(reader)
    assert isinstance(only, Oversize)
    assert only.request_id() == 42


async def test_without_keep_head_the_shared_sentinel_comes_back() -> None:
    reader = _reader([b"x" * 300 + b"\n"], 100, keep_head=False)
    assert await _all(reader) == [OVERSIZE]


async def test_an_oversize_line_without_a_readable_id() -> None:
    reader = _reader([b"[" + b"1," * 200 + b"1]\n"], 100)
    (only,) = await _all(reader)
    assert isinstance(only, Oversize)
    assert only.request_id() is None
