"""A local, durable spool of opaque records (serialized usage events) for when analytics is
unreachable.

Records are appended to segment files under one directory as frames of
`length (4 bytes, big-endian) | crc32 (4 bytes) | payload`, each append fsync'd before it
returns. Replaying reads whole segments oldest first; a segment is removed only once
everything in it has been acknowledged. A torn frame at the end of a segment (a crash in
mid-write) ends that segment's reading; nothing after it was ever acknowledged to anyone.
"""

from __future__ import annotations

import itertools
import logging
import os
import struct
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("freeway.router.spool")

_HEADER = struct.Struct(">II")
_SUFFIX = ".spool"
_REJECTED = ".rejected"


class Spool:
    """Append-only segment files of framed records under `directory`."""

    def __init__(self, directory: Path, segment_bytes: int = 4 << 20) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._names = itertools.count()

    def append(self, records: Sequence[bytes]) -> None:
        """Write `records` and fsync them; they survive a crash once this returns."""
        if not records:
            return
        handle = self._writer()
        handle.write(_frames(records))
        handle.flush()
        os.fsync(handle.fileno())
        if handle.tell() >= self.segment_bytes:
            self.seal()

    def seal(self) -> list[Path]:
        """Close the segment being written (new appends start another); what can be replayed."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._path = None
        return self.sealed()

    def segments(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))

    def sealed(self) -> list[Path]:
        """Segments nobody is writing to, oldest first (another live router's are left alone)."""
        return [p for p in self.segments() if p != self._path and not _foreign_live(p)]

    def read(self, path: Path) -> list[bytes]:
        """Every intact record of a segment, in order."""
        data = path.read_bytes()
        records: list[bytes] = []
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, offset)
            start, end = offset + _HEADER.size, offset + _HEADER.size + length
            payload = data[start:end]
            if end > len(data) or zlib.crc32(payload) != crc:
                log.warning("%s: torn record at byte %d; the rest is skipped", path, offset)
                break
            records.append(payload)
            offset = end
        return records

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def set_aside(self, path: Path) -> Path:
        """Keep a segment analytics refused, out of replay, for an operator to look at."""
        target = path.with_suffix(_REJECTED)
        path.replace(target)
        return target

    def set_aside_records(self, records: Sequence[bytes]) -> Path:
        """Write records analytics refused straight to a set-aside segment (fsync'd)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self._name()}{_REJECTED}"
        with path.open("wb") as handle:
            handle.write(_frames(records))
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(self.directory)
        return path

    def close(self) -> None:
        self.seal()

    def _name(self) -> str:
        return f"usage-{time.time_ns():020d}-{os.getpid()}-{next(self._names):04d}"

    def _writer(self) -> BinaryIO:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._path = self.directory / f"{self._name()}{_SUFFIX}"
            self._file = self._path.open("ab")
            _fsync_dir(self.directory)
        return self._file


def _frames(records: Sequence[bytes]) -> bytes:
    return b"".join(_HEADER.pack(len(r), zlib.crc32(r)) + r for r in records)


def _foreign_live(path: Path) -> bool:
    """Whether the segment belongs to another process that is still running."""
    parts = path.name.split("-")
    if len(parts) < 4 or not parts[2].isdigit():
        return False
    pid = int(parts[2])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    """Make the new segment's directory entry durable too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
