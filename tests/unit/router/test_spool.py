"""The usage spool: framed records written before they are sent, handed out in order, given
back only once acknowledged, adopted after a crash, torn tails cut, bounded."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.router.spool import Spool, read_records


def take_all(spool: Spool, batch: int = 100) -> list[bytes]:
    records: list[bytes] = []
    while (chunk := spool.take(batch)) is not None:
        records += chunk.payloads
        spool.acknowledge(chunk)
    return records


def test_records_come_out_in_order_in_chunks(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(5):
        spool.append(b"r%d" % i)
    first = spool.take(2)
    second = spool.take(10)
    assert first is not None
    assert second is not None
    assert first.payloads == [b"r0", b"r1"]
    assert second.payloads == [b"r2", b"r3", b"r4"]
    assert spool.take(10) is None
    spool.close()


def test_only_acknowledged_bytes_are_given_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"one")
    spool.append(b"two")
    chunk = spool.take(1)
    assert chunk is not None
    spool.acknowledge(chunk)
    (segment,) = tmp_path.glob("*.wal")
    assert list(read_records(segment)) == [b"one", b"two"]  # "two" is not acknowledged yet
    rest = spool.take(5)
    assert rest is not None
    spool.acknowledge(rest)
    assert segment.stat().st_size == 0  # everything acknowledged: truncated, kept for appends
    assert spool.unacknowledged_bytes() == 0
    spool.append(b"three")
    assert list(read_records(segment)) == [b"three"]
    spool.close()


def test_acks_out_of_order_wait_for_the_ones_before(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(3):
        spool.append(b"%d" % i)
    a, b = spool.take(1), spool.take(2)
    assert a is not None
    assert b is not None
    spool.acknowledge(b)
    assert spool.unacknowledged_bytes() > 0
    spool.acknowledge(a)
    assert spool.unacknowledged_bytes() == 0
    spool.close()


def test_rewind_sends_the_unacknowledged_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(4):
        spool.append(b"%d" % i)
    first = spool.take(2)
    assert first is not None
    spool.acknowledge(first)
    spool.take(2)  # sent, never acknowledged: the stream broke
    spool.rewind()
    assert take_all(spool) == [b"2", b"3"]
    spool.close()


def test_what_a_closed_spool_left_is_adopted_and_replayed(tmp_path: Path) -> None:
    earlier = Spool(tmp_path)
    earlier.append(b"left behind")
    earlier.close()
    later = Spool(tmp_path)
    assert later.adopt() == 1
    later.append(b"new")
    assert take_all(later) == [b"left behind", b"new"]
    assert list(tmp_path.glob("*.wal")) != []  # the active segment stays, truncated
    assert len(list(tmp_path.glob("*.wal"))) == 1  # the adopted one is deleted once acked
    later.close()


def test_a_live_writers_segment_is_left_alone(tmp_path: Path) -> None:
    writer = Spool(tmp_path)
    writer.append(b"mine")
    other = Spool(tmp_path)
    assert other.adopt() == 0  # the writer holds its lock
    writer.close()
    assert other.adopt() == 1
    assert take_all(other) == [b"mine"]
    other.close()


def test_a_segment_of_a_killed_process_is_adopted(tmp_path: Path) -> None:
    """The lock dies with the process: a spool written by a child killed with SIGKILL."""
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from services.router.spool import Spool\n"
        "spool = Spool(Path(sys.argv[1]))\n"
        "for i in range(100): spool.append(b'event-%d' % i)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False)
    assert result.returncode == -9
    spool = Spool(tmp_path)
    assert spool.adopt() == 1
    assert take_all(spool) == [b"event-%d" % i for i in range(100)]
    spool.close()


def test_torn_tail_is_cut_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    earlier = Spool(tmp_path)
    earlier.append(b"kept")
    earlier.append(b"also kept")
    earlier.close()
    (segment,) = tmp_path.glob("*.wal")
    with segment.open("ab") as fh:
        fh.write(b"\x00\x00\x00\x10\x00\x00")  # a header cut short
    later = Spool(tmp_path)
    later.adopt()
    with caplog.at_level(logging.WARNING):
        assert take_all(later) == [b"kept", b"also kept"]
    assert "torn record" in caplog.text
    assert not segment.exists()
    later.close()


def test_corrupt_record_stops_reading(tmp_path: Path) -> None:
    earlier = Spool(tmp_path)
    earlier.append(b"good")
    earlier.append(b"evil")
    earlier.close()
    (segment,) = tmp_path.glob("*.wal")
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    later = Spool(tmp_path)
    later.adopt()
    assert take_all(later) == [b"good"]
    later.close()


def test_rotates_when_a_segment_is_full_and_deletes_acked_ones(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64)
    for i in range(10):
        spool.append(bytes([i]) * 20)
    assert len(list(tmp_path.glob("*.wal"))) > 1
    assert take_all(spool, batch=3) == [bytes([i]) * 20 for i in range(10)]
    assert len(list(tmp_path.glob("*.wal"))) <= 1
    spool.close()


def test_a_record_larger_than_one_read_comes_out_whole(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=8 << 20)
    big = os.urandom(3 << 20)
    spool.append(big)
    spool.append(b"after")
    assert take_all(spool) == [big, b"after"]
    spool.close()


def test_full_at_its_bound_says_so_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, max_bytes=1000)
    with caplog.at_level(logging.WARNING):
        for _ in range(30):
            spool.append(b"x" * 50)
        assert spool.full
        assert caplog.text.count("usage spool full") == 1
        take_all(spool)
        assert not spool.full
        assert "below its bound again" in caplog.text
    spool.close()


def test_set_aside_keeps_refused_records_out_of_replay(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"refused")
    spool.append(b"fine")
    chunk = spool.take(1)
    assert chunk is not None
    kept = spool.set_aside(chunk)
    assert list(read_records(kept)) == [b"refused"]
    assert take_all(spool) == [b"fine"]
    spool.close()
    later = Spool(tmp_path)
    assert later.adopt() == 0  # the set-aside file is not a segment
    later.close()


def test_dirty_segments_are_handed_out_for_fsync_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"a")
    fds = spool.dirty_fds()
    assert len(fds) == 2  # the segment and its new directory entry
    for fd in fds:
        os.fsync(fd)
        os.close(fd)
    assert spool.dirty_fds() == []
    spool.close()
