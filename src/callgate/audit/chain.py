"""The hash chain and its checkpoints (pure: bytes and keys in, hashes and verdicts out).

Every line of a writer's chain carries `seq` (1, 2, 3, ... across all the writer's files)
and `prev`, the HMAC-SHA256 under the install's audit key of the previous line's bytes
(its canonical JSON). The first record's `prev` is the writer's genesis, an HMAC of the
writer's name, so a chain cannot be renamed into another writer's. Someone without the key
cannot compute any of these, so editing, deleting, inserting or reordering a record breaks
the link to the record after it.

The last record has no successor to vouch for it, so the writer also keeps a checkpoint:
the writer's name, how far the chain got (file, seq, the last record's hash), whether the
writer closed it (`sealed`), all signed with the same key. A log that ends before its
checkpoint was truncated; a last record that does not hash to the checkpoint was edited.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

from callgate.audit.record import canonical_json

HASH_HEX = 64
_SEQ_PREFIX = b'{"seq":'
_PREV_PREFIX = b',"prev":"'


def link_hash(key: bytes, line: bytes) -> str:
    """The hash a record's successor carries as `prev`: HMAC-SHA256 (hex) of its line."""
    return hmac.digest(key, line, "sha256").hex()


def genesis(key: bytes, writer: str) -> str:
    """The `prev` of a writer's first record."""
    return link_hash(key, b"callgate audit genesis\x00" + writer.encode())


def key_id(key: bytes) -> str:
    """A short public name of the key, so a verifier can say it holds the wrong one."""
    return link_hash(key, b"callgate audit key id")[:16]


def parse_link(line: bytes) -> tuple[int, str] | None:
    """`(seq, prev)` of a record line written by callgate, or None when it is not one.

    Reads only the fixed prefix `{"seq":N,"prev":"HEX"`; the rest of the line is vouched
    for by the hash its successor (or the checkpoint) carries, not by parsing it.
    """
    if not line.startswith(_SEQ_PREFIX):
        return None
    end = line.find(b",", 7, 28)
    digits = line[7:end]
    if end < 0 or not digits.isdigit() or (len(digits) > 1 and digits[0] == 48):  # b"0"
        return None
    start = end + len(_PREV_PREFIX)
    if line[end:start] != _PREV_PREFIX or line[start + HASH_HEX : start + HASH_HEX + 1] != b'"':
        return None
    prev = line[start : start + HASH_HEX]
    try:
        text = prev.decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(text) != HASH_HEX or text.strip("0123456789abcdef"):
        return None
    return int(digits), text


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a writer's chain got, signed with the audit key."""

    writer: str
    file: int
    """The number of the file holding record `seq` (0 before the first record)."""
    seq: int
    hash: str
    """The last record's hash (the genesis when `seq` is 0)."""
    time: str
    sealed: bool
    """True when the writer closed the chain (an orderly shutdown); nothing may follow."""
    key_id: str

    def sign(self, key: bytes) -> bytes:
        """The checkpoint file's content: the fields and their MAC, as JSON."""
        fields = asdict(self)
        mac = link_hash(key, canonical_json(fields).encode())
        return (canonical_json({**fields, "mac": mac}) + "\n").encode()


class CheckpointError(ValueError):
    """A checkpoint file that is not one, or whose MAC does not match (edited or forged)."""


def read_checkpoint(content: bytes, key: bytes) -> Checkpoint:
    """The checkpoint in `content`, its MAC checked; `CheckpointError` says what is wrong."""
    try:
        data: Any = json.loads(content)
    except ValueError as error:
        raise CheckpointError(f"not JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("mac"), str):
        raise CheckpointError("not a checkpoint")
    mac = data.pop("mac")
    try:
        checkpoint = Checkpoint(**data)
    except TypeError:
        raise CheckpointError("not a checkpoint (unexpected fields)") from None
    if not _well_typed(checkpoint):
        raise CheckpointError("not a checkpoint (a field has the wrong type)")
    if checkpoint.key_id != key_id(key):
        raise CheckpointError(
            f"signed with another key (key id {checkpoint.key_id}; the key given has {key_id(key)})"
        )
    if not hmac.compare_digest(mac, link_hash(key, canonical_json(data).encode())):
        raise CheckpointError("its signature does not match (edited or forged)")
    return checkpoint


_TYPES = {
    "writer": str,
    "file": int,
    "seq": int,
    "hash": str,
    "time": str,
    "sealed": bool,
    "key_id": str,
}


def _well_typed(checkpoint: Checkpoint) -> bool:
    for name, kind in _TYPES.items():
        value = getattr(checkpoint, name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return False
    return checkpoint.seq >= 0 and checkpoint.file >= 0
