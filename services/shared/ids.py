"""Event ids that sort by time: UUIDv7 (RFC 9562, section 5.7).

The usage store is keyed by event id. A random id (UUID4) lands anywhere in that key's
index, so at volume every insert dirties a different index page, and after each checkpoint
each of them is written to the WAL whole; an id that starts with the time lands at the
index's end, beside the ids stored just before it. The 74 bits after the time are random
(from the OS, so forked processes never share them), which keeps ids made in the same
millisecond apart.
"""

from __future__ import annotations

import os
import time
import uuid

_MS_MASK = (1 << 48) - 1
_VERSION = 7 << 76
_VARIANT = 0b10 << 62
_RANDOM = ~((0xF << 76) | (0b11 << 62)) & ((1 << 80) - 1)


def uuid7(now_ns: int | None = None) -> str:
    """A new UUIDv7 as text: its first 48 bits are the Unix time in milliseconds."""
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big") & _RANDOM
    return str(uuid.UUID(int=(ms & _MS_MASK) << 80 | _VERSION | _VARIANT | rand))
