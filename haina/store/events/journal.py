"""The ingest journal: what a 200 waits for.

Collection acknowledges a request once its rows are in this append-only file and the file is
fsynced (one `write` and one `fdatasync` for every request that arrived meanwhile: group
commit). A loader then appends the journal to DuckDB in large transactions, and records how far
it got in the same transaction, so every record is loaded exactly once, also across a crash.
DuckDB commits (11-15 ms each) and checkpoints (up to seconds) are thus off the path of a
request. See docs/data-directory.md.

A segment file holds records; each record is one commit group:

    magic b"HNJ1" | u32 body length | u32 crc32 of the body | u64 sequence number | body

and the body is msgpack `{"e": [event rows, ...], "q": quarantine rows}`, each event rows part
being msgpack of their columns (`{"message_id": [...], ...}`, as the pipeline makes them) kept as
bytes until the loader turns them into Arrow: encoding them is one call, so the acknowledging
thread seldom gives up the GIL.
A record either reads back whole (length and checksum match) or is a torn tail, written by a
process that died before its fsync returned, so never acknowledged: reading stops there and
the tail is cut off.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

MAGIC = b"HNJ1"
_HEADER = struct.Struct("<4sIIQ")
SEGMENT_BYTES = 32 << 20  # a new segment file once the current one is past this size
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where the loader has got to: everything before `offset` in segment `segment` (and every
    earlier segment) is in DuckDB."""

    segment: int = 0
    offset: int = 0

    def text(self) -> str:
        return f"{self.segment}:{self.offset}"

    @classmethod
    def parse(cls, text: str | None) -> Position:
        if not text:
            return cls()
        segment, offset = text.split(":")
        return cls(int(segment), int(offset))


@dataclass(slots=True)
class Record:
    seq: int
    events: list[bytes]  # parts of encoded columns (`decode_columns`)
    quarantine: list[dict[str, Any]]
    end: Position  # the position just after this record


def encode_columns(columns: dict[str, list[Any]]) -> bytes:
    return _encode(columns)


def decode_columns(blob: bytes) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = _decode(blob)
    return columns


def encode_record(seq: int, events: list[bytes], quarantine: list[dict[str, Any]]) -> bytes:
    body = _encode({"e": events, "q": quarantine})
    return _HEADER.pack(MAGIC, len(body), zlib.crc32(body), seq) + body


def _decode_body(body: bytes) -> tuple[list[bytes], list[dict[str, Any]]]:
    doc = _decode(body)
    events = doc.get("e") or []
    return [events] if isinstance(events, bytes) else list(events), list(doc.get("q") or [])


def segment_path(directory: Path, segment: int) -> Path:
    return directory / f"{segment:012d}.hj"


def segments(directory: Path) -> list[int]:
    """The segment numbers present, oldest first."""
    if not directory.exists():
        return []
    out = []
    for p in directory.glob("*.hj"):
        with contextlib.suppress(ValueError):
            out.append(int(p.stem))
    return sorted(out)


def read_from(directory: Path, start: Position) -> Iterator[Record]:
    """Every whole record after `start`, in order. A torn record ends its segment's reading
    (and is cut off the file, so appends that follow stay readable)."""
    for seg in segments(directory):
        if seg < start.segment:
            continue
        path = segment_path(directory, seg)
        offset = start.offset if seg == start.segment else 0
        with path.open("r+b") as f:
            f.seek(offset)
            while True:
                head = f.read(_HEADER.size)
                if not head:
                    break
                ok = len(head) == _HEADER.size
                magic, length, crc, seq = _HEADER.unpack(head) if ok else (b"", 0, 0, 0)
                body = f.read(length) if ok and magic == MAGIC else b""
                if not ok or magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
                    f.truncate(offset)  # never acknowledged: the fsync did not return
                    break
                offset += _HEADER.size + length
                events, quarantine = _decode_body(body)
                yield Record(seq, events, quarantine, Position(seg, offset))


def read_record(directory: Path, start: Position) -> Record:
    """The whole record that begins at `start` (one the loader let go of from memory)."""
    with segment_path(directory, start.segment).open("rb") as f:
        f.seek(start.offset)
        head = f.read(_HEADER.size)
        magic, length, crc, seq = _HEADER.unpack(head)
        body = f.read(length)
    if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
        raise OSError(f"journal record at {start.text()} does not read back whole")
    events, quarantine = _decode_body(body)
    return Record(
        seq, events, quarantine, Position(start.segment, start.offset + len(head) + length)
    )


class JournalWriter:
    """Appends records to the newest segment; each `append` returns once it is on disk."""

    def __init__(
        self, directory: Path, loaded: Position, *, segment_bytes: int = SEGMENT_BYTES
    ) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        # Always a new segment, numbered past every file and past the loaded position (whose
        # segment may have been deleted), so positions only ever grow.
        existing = segments(directory)
        self.segment = max([loaded.segment, *existing]) + 1
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        if self._fd is None:
            path = segment_path(self.directory, self.segment)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._size = os.fstat(self._fd).st_size
            # The new file's directory entry must be durable too.
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return self._fd

    def append(self, data: bytes) -> Position:
        """Write and fsync; on any failure nothing of `data` stays in the file."""
        if self._fd is not None and self._size >= self.segment_bytes:
            self.rotate()
        fd = self._open()
        start = self._size
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fdatasync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)
            except OSError:
                # The file may now hold part of a record; appends go to a new segment, and
                # reading stops at the part (it fails its checksum).
                self.rotate()
            raise
        self._size = start + len(data)
        return Position(self.segment, self._size)

    def rotate(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self.segment += 1

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def drop_loaded(directory: Path, loaded: Position, current: int | None) -> None:
    """Delete segments wholly loaded into DuckDB, never the one being written (`current`; None
    once writing has stopped and everything is loaded)."""
    for seg in segments(directory):
        whole = seg < loaded.segment or (current is None and seg <= loaded.segment)
        if whole and seg != current:
            with contextlib.suppress(FileNotFoundError):
                segment_path(directory, seg).unlink()
