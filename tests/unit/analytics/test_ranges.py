"""Splitting a range into the coarsest exact pieces, and widening it where data is gone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.analytics.queries import BEGINNING, Granularity, floor
from services.analytics.ranges import Piece, split, widen

T = datetime(2026, 3, 1, 10, 17, 30, tzinfo=UTC)
EVERYTHING = dict.fromkeys((None, *Granularity), BEGINNING)


def test_a_range_is_raw_edges_minutes_hours_and_days() -> None:
    pieces = split(T, datetime(2026, 3, 4, 3, 5, 1, tzinfo=UTC))
    assert [(p.level, p.start.isoformat()[:19], p.end.isoformat()[:19]) for p in pieces] == [
        (None, "2026-03-01T10:17:30", "2026-03-01T10:18:00"),
        (Granularity.MINUTE, "2026-03-01T10:18:00", "2026-03-01T11:00:00"),
        (Granularity.HOUR, "2026-03-01T11:00:00", "2026-03-02T00:00:00"),
        (Granularity.DAY, "2026-03-02T00:00:00", "2026-03-04T00:00:00"),
        (Granularity.HOUR, "2026-03-04T00:00:00", "2026-03-04T03:00:00"),
        (Granularity.MINUTE, "2026-03-04T03:00:00", "2026-03-04T03:05:00"),
        (None, "2026-03-04T03:05:00", "2026-03-04T03:05:01"),
    ]


def test_a_short_range_is_raw_rows_only() -> None:
    assert split(T, T + timedelta(seconds=10)) == [Piece(None, T, T + timedelta(seconds=10))]
    assert split(T, T) == []


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 3, 1), timezones=st.just(UTC)
)


@given(moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
def test_pieces_tile_the_range_on_their_own_boundaries(start: datetime, span: timedelta) -> None:
    end = start + span
    pieces = split(start, end)
    assert [p.start for p in pieces[1:]] == [p.end for p in pieces[:-1]]
    if pieces:
        assert (pieces[0].start, pieces[-1].end) == (start, end)
    for p in pieces:
        assert p.start < p.end
        if p.level is not None:
            assert floor(p.start, p.level) == p.start
            assert floor(p.end, p.level) == p.end
    assert all(a.level != b.level for a, b in itertools.pairwise(pieces))


@given(moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)), moments)
def test_widened_edges_never_need_data_older_than_its_horizon(
    start: datetime, span: timedelta, horizon: datetime
) -> None:
    horizons = {None: horizon, Granularity.MINUTE: horizon + timedelta(hours=5)} | {
        Granularity.HOUR: BEGINNING,
        Granularity.DAY: BEGINNING,
    }
    wide_start, wide_end = widen(start, start + span, horizons)
    assert wide_start <= start <= start + span <= wide_end
    for p in split(wide_start, wide_end):
        if p.level in (None, Granularity.MINUTE):
            assert p.start >= horizons[p.level]


def test_nothing_is_widened_when_everything_is_kept() -> None:
    assert widen(T, T + timedelta(hours=5), EVERYTHING) == (T, T + timedelta(hours=5))
