"""The usage spool: durable framed records, replay order, torn tails, rotation."""

from __future__ import annotations

from pathlib import Path

from services.router.spool import Spool


def test_round_trip_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append([b"one", b"two"])
    spool.append([b"", b"three"])
    assert spool.sealed() == []  # still being written
    (segment,) = spool.seal()
    assert spool.read(segment) == [b"one", b"two", b"", b"three"]
    spool.remove(segment)
    assert spool.segments() == []


def test_appends_after_seal_go_to_a_new_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([b"a"])
    first = spool.seal()
    spool.append([b"b"])
    assert spool.sealed() == first
    both = spool.seal()
    assert [spool.read(p) for p in both] == [[b"a"], [b"b"]]


def test_torn_tail_is_skipped_not_fatal(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([b"kept", b"also kept"])
    (segment,) = spool.seal()
    with segment.open("ab") as fh:
        fh.write(b"\x00\x00\x00\x10\x00\x00")  # a header cut short by a crash
    assert spool.read(segment) == [b"kept", b"also kept"]
    data = segment.read_bytes()
    segment.write_bytes(data[:-9])  # a payload cut short
    assert spool.read(segment) == [b"kept"]


def test_corrupt_record_stops_reading(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([b"good", b"evil"])
    (segment,) = spool.seal()
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert spool.read(segment) == [b"good"]


def test_rotates_when_a_segment_is_full(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=64)
    for i in range(10):
        spool.append([bytes([i]) * 20])
    segments = spool.seal()
    assert len(segments) > 1
    records = [r for p in segments for r in spool.read(p)]
    assert records == [bytes([i]) * 20 for i in range(10)]


def test_a_new_spool_finds_what_an_old_one_left(tmp_path: Path) -> None:
    earlier = Spool(tmp_path)
    earlier.append([b"left behind"])
    earlier.close()
    later = Spool(tmp_path)
    (segment,) = later.sealed()
    assert later.read(segment) == [b"left behind"]


def test_set_aside_segments_and_records_leave_replay(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([b"refused"])
    (segment,) = spool.seal()
    kept = spool.set_aside(segment)
    extra = spool.set_aside_records([b"also refused"])
    assert spool.segments() == []
    assert (spool.read(kept), spool.read(extra)) == ([b"refused"], [b"also refused"])
