"""Time-ordered event ids: valid UUIDv7s whose order follows the time they were made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.shared.ids import uuid7

NOW_NS = 1_796_212_800_000_000_000  # 2026-12-02T12:00:00Z


def test_an_id_is_a_version_7_rfc_9562_uuid() -> None:
    made = uuid.UUID(uuid7())
    assert made.version == 7
    assert made.variant == uuid.RFC_4122


def test_the_first_48_bits_are_the_unix_time_in_milliseconds() -> None:
    made = uuid.UUID(uuid7(NOW_NS))
    assert made.int >> 80 == NOW_NS // 1_000_000
    assert datetime.fromtimestamp((made.int >> 80) / 1000, UTC) == datetime(
        2026, 12, 2, 12, tzinfo=UTC
    )


@given(st.integers(0, 10**9 * 86_400 * 365 * 100), st.integers(1_000_000, 10**12))
def test_ids_of_later_milliseconds_sort_after_earlier_ones_as_text(at: int, later: int) -> None:
    assert uuid7(at) < uuid7(at + later)


def test_ids_of_one_millisecond_differ() -> None:
    ids = {uuid7(NOW_NS) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert {i[:13] for i in ids} == {uuid7(NOW_NS)[:13]}  # the time part is shared
