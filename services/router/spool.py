"""The usage spool: a local write-ahead log of every usage event, written before the answer
leaves, shipped to analytics from disk, and dropped only once analytics acknowledged it.

Each event is one frame `length (4 bytes, big-endian) | crc32 (4 bytes) | payload` appended
to the active segment with a single `write()`. A write that returned is in the kernel's page
cache, so it survives kill -9 of the router; it is not fsync'd on the request path (an fsync
costs milliseconds and would stall every answer): the reporter fsyncs in the background
every `FREEWAY_ROUTER_USAGE_FSYNC_S`, which bounds what a *machine* crash can lose.

Segments are `usage-<time>-<pid>-<n>.wal` under one directory. The process writing a segment
holds an exclusive `flock` on it for as long as it has the file open, so a segment whose lock
can be taken belongs to a router that died: it is adopted and replayed. Analytics stores
events idempotently by event id, so replaying what it had already stored is harmless.

Acknowledged bytes are given back at once: a fully acknowledged active segment is truncated
to zero, a fully acknowledged sealed one is deleted. While analytics is away segments
rotate at `segment_bytes`; when everything on disk reaches `max_bytes` the spool reports
itself full (the router then refuses new completions rather than answer one it could not
record) and says so in the log, once, until it drains below the bound again.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("freeway.router.spool")

_HEADER = struct.Struct(">II")
_SUFFIXES = (".wal", ".spool")  # .spool: segments of earlier versions (same frames)
_REJECTED = ".rejected"
_READ_BYTES = 1 << 20  # most bytes read for one chunk


@dataclass
class Segment:
    """One segment file, open (and locked) for as long as this process holds it."""

    path: Path
    fd: int
    size: int  # bytes of intact frames (what can be sent)
    sealed: bool  # no more appends
    sent: int = 0  # bytes handed out in chunks
    acked: int = 0  # bytes acknowledged, contiguous from the start
    done: dict[int, int] = field(default_factory=dict)  # acknowledged ranges past `acked`
    dirty: bool = False  # written since the last fsync


@dataclass(frozen=True)
class Chunk:
    """Consecutive frames of one segment, handed out to be sent as one batch."""

    segment: Segment
    start: int
    end: int
    payloads: list[bytes]


class SpoolFull(OSError):
    """The spool reached its bound: no new event should be taken on."""


class Spool:
    """Append-only, locked segment files of framed records under `directory`."""

    def __init__(
        self, directory: Path, segment_bytes: int = 4 << 20, max_bytes: int = 1 << 30
    ) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.segments: list[Segment] = []  # oldest first; the last one may be active
        self._active: Segment | None = None
        self._names = itertools.count()
        self._dir_dirty = False
        self._full = False

    # --- writing (the request path) ----------------------------------------------------------

    def append(self, payload: bytes) -> None:
        """Frame `payload` and write it with one `write()`; durable against kill -9 on return."""
        active = self._active or self._open_active()
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        written = os.write(active.fd, frame)
        if written != len(frame):  # a regular file only writes short when the disk is full
            self._cut(active)
            raise OSError(f"short write to {active.path} ({written} of {len(frame)} bytes)")
        active.size += written
        active.dirty = True
        if active.size >= self.segment_bytes:
            active.sealed = True
            self._active = None
        self._check_bound()

    @property
    def full(self) -> bool:
        return self._full

    def disk_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    # --- reading (the reporter) --------------------------------------------------------------

    def adopt(self) -> int:
        """Take over segments no live process holds (a router that died); how many."""
        self.directory.mkdir(parents=True, exist_ok=True)
        held = {s.path for s in self.segments}
        adopted = 0
        for path in sorted(self.directory.iterdir()):
            if path in held or path.suffix not in (*_SUFFIXES, ".new"):
                continue
            segment = _lock(path)
            if segment is None:
                continue
            if path.suffix == ".new" or segment.size == 0:  # nothing in it (a crash at start)
                path.unlink(missing_ok=True)
                os.close(segment.fd)
                continue
            adopted += 1
            self.segments.append(segment)
        if adopted:
            self.segments.sort(key=lambda s: (s is self._active, s.path.name))
            self._check_bound()
        return adopted

    def take(self, max_records: int) -> Chunk | None:
        """The next frames not yet handed out, oldest segment first (None: nothing new)."""
        for segment in list(self.segments):
            while segment.sent < segment.size:
                chunk = self._read(segment, max_records)
                if chunk.payloads:
                    return chunk
                self._settle(segment)  # a torn tail was cut off
        return None

    def unsent(self) -> bool:
        return any(s.sent < s.size for s in self.segments)

    def acknowledge(self, chunk: Chunk) -> None:
        """Analytics stored `chunk`: give its bytes back once everything before them is too."""
        segment = chunk.segment
        segment.done[chunk.start] = chunk.end
        while segment.acked in segment.done:
            segment.acked = segment.done.pop(segment.acked)
        self._settle(segment)

    def rewind(self) -> None:
        """The stream broke: everything not acknowledged is to be sent again."""
        for segment in self.segments:
            segment.sent = segment.acked
            segment.done.clear()

    def set_aside(self, chunk: Chunk) -> Path:
        """Keep frames analytics refused as invalid in a file of their own, out of replay."""
        path = self.directory / f"{self._name()}{_REJECTED}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, frames(chunk.payloads))
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.directory)
        self.acknowledge(chunk)
        return path

    def unacknowledged_bytes(self) -> int:
        return sum(s.size - s.acked for s in self.segments)

    # --- durability --------------------------------------------------------------------------

    def dirty_fds(self) -> list[int]:
        """Duplicated descriptors of segments written since the last sync (the caller fsyncs
        and closes them, off the event loop; a duplicate stays valid if the segment goes)."""
        fds = [os.dup(s.fd) for s in self.segments if s.dirty]
        for segment in self.segments:
            segment.dirty = False
        if self._dir_dirty:
            self._dir_dirty = False
            fds.append(os.open(self.directory, os.O_RDONLY))
        return fds

    def close(self) -> None:
        """fsync and release every segment (what is unacknowledged stays for the next start)."""
        for fd in self.dirty_fds():
            sync_and_close(fd)
        for segment in self.segments:
            if segment.size == 0:
                segment.path.unlink(missing_ok=True)
            os.close(segment.fd)
        self.segments.clear()
        self._active = None

    # --- internals ---------------------------------------------------------------------------

    def _open_active(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = self._name()
        # Locked before it gets a name another router would adopt.
        fresh = self.directory / f"{name}.new"
        fd = os.open(fresh, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = fresh.rename(self.directory / f"{name}.wal")
        self._active = Segment(path, fd, 0, sealed=False)
        self.segments.append(self._active)
        self._dir_dirty = True
        return self._active

    def _read(self, segment: Segment, max_records: int) -> Chunk:
        start, remaining = segment.sent, segment.size - segment.sent
        data = os.pread(segment.fd, min(remaining, _READ_BYTES), start)
        payloads, used = parse_frames(data, max_records)
        if not payloads and len(data) >= _HEADER.size:  # one frame larger than a read?
            (length, _) = _HEADER.unpack_from(data)
            if len(data) < _HEADER.size + length <= remaining:
                data = os.pread(segment.fd, _HEADER.size + length, start)
                payloads, used = parse_frames(data, max_records)
        if not payloads:  # a torn or corrupt frame: nothing after it was ever acknowledged
            log.warning("%s: torn record at byte %d; the rest is cut off", segment.path.name, start)
            segment.size = start
            self._cut(segment)
            return Chunk(segment, start, start, [])
        segment.sent = start + used
        return Chunk(segment, start, segment.sent, payloads)

    def _settle(self, segment: Segment) -> None:
        """Give a fully acknowledged segment's bytes back: delete it, or truncate it if active."""
        if segment.acked < segment.size or segment.sent > segment.acked:
            return
        if segment.sealed:
            self._drop(segment)
        elif segment.size:
            os.ftruncate(segment.fd, 0)  # O_APPEND: the next write starts at 0 again
            segment.size = segment.sent = segment.acked = 0
        self._check_bound()

    def _drop(self, segment: Segment) -> None:
        self.segments.remove(segment)
        if segment is self._active:
            self._active = None
        segment.path.unlink(missing_ok=True)
        os.close(segment.fd)

    def _cut(self, segment: Segment) -> None:
        """Undo a partial frame so the segment stays readable."""
        with contextlib.suppress(OSError):
            os.ftruncate(segment.fd, segment.size)

    def _check_bound(self) -> None:
        used = self.disk_bytes()
        if not self._full and used >= self.max_bytes:
            self._full = True
            log.error(
                "usage spool full: %d MiB unacknowledged under %s (bound %d MiB,"
                " FREEWAY_ROUTER_USAGE_SPOOL_MAX_BYTES); refusing completions until"
                " analytics takes them",
                used >> 20,
                self.directory,
                self.max_bytes >> 20,
            )
        elif self._full and used < self.max_bytes * 0.9:
            self._full = False
            log.warning(
                "usage spool below its bound again (%d MiB): taking completions", used >> 20
            )

    def _name(self) -> str:
        return f"usage-{time.time_ns():020d}-{os.getpid()}-{next(self._names):04d}"


def frames(payloads: Sequence[bytes]) -> bytes:
    return b"".join(_HEADER.pack(len(p), zlib.crc32(p)) + p for p in payloads)


def parse_frames(data: bytes, max_records: int) -> tuple[list[bytes], int]:
    """Intact frames from the start of `data` (at most `max_records`), and bytes consumed."""
    payloads: list[bytes] = []
    offset = 0
    view = memoryview(data)
    while len(payloads) < max_records and offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if end > len(data):
            break
        payload = bytes(view[offset + _HEADER.size : end])
        if zlib.crc32(payload) != crc:
            break
        payloads.append(payload)
        offset = end
    return payloads, offset


def read_records(path: Path) -> Iterator[bytes]:
    """Every intact record of a segment or set-aside file, in order (for tools and tests)."""
    data = path.read_bytes()
    payloads, _ = parse_frames(data, len(data))
    yield from payloads


def sync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(path: Path) -> Segment | None:
    """Open and lock a segment another process left; None while its writer is alive."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return Segment(path, fd, os.fstat(fd).st_size, sealed=True)


def _fsync_dir(directory: Path) -> None:
    sync_and_close(os.open(directory, os.O_RDONLY))
