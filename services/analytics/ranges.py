"""Any time range as a few pieces, each read from the coarsest data that answers it exactly.

[10:17:30, next day 03:00) becomes raw rows for [10:17:30, 10:18), minute rollups to 11:00,
hour rollups to midnight, hour rollups again to 03:00: a month-long range costs a few
hundred rollup rows, not millions of events, and is still exact to the microsecond.

Where retention has already pruned the finer data a piece needs, the range is widened to
the next coarser boundary instead (and the answer says which range it covers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from services.analytics.queries import Granularity, ceil, floor

Level = Granularity | None  # None: raw rows


@dataclass(frozen=True)
class Piece:
    level: Level
    start: datetime
    end: datetime


_COARSEST_FIRST = (Granularity.DAY, Granularity.HOUR, Granularity.MINUTE)
_COARSER: dict[Level, Granularity | None] = {
    None: Granularity.MINUTE,
    Granularity.MINUTE: Granularity.HOUR,
    Granularity.HOUR: Granularity.DAY,
    Granularity.DAY: None,
}


def widen(
    start: datetime, end: datetime, horizons: Mapping[Level, datetime]
) -> tuple[datetime, datetime]:
    """[start, end) grown outward to coarser boundaries wherever the finer data its edges
    need is older than that level's horizon (the oldest time it still holds)."""
    for level in (None, Granularity.MINUTE, Granularity.HOUR):
        coarser = _COARSER[level]
        assert coarser is not None
        if start < horizons[level]:
            start = floor(start, coarser)
        if floor(end, coarser) < horizons[level]:
            end = ceil(end, coarser)
    return start, end


def split(start: datetime, end: datetime) -> list[Piece]:
    """[start, end) as consecutive pieces, each as coarse as its alignment allows (adjacent
    pieces of one level are one piece)."""
    pieces: list[Piece] = []
    at = start
    while at < end:
        level, stop = _next_piece(at, end)
        if pieces and pieces[-1].level == level:
            pieces[-1] = Piece(level, pieces[-1].start, stop)
        else:
            pieces.append(Piece(level, at, stop))
        at = stop
    return pieces


def _next_piece(at: datetime, end: datetime) -> tuple[Level, datetime]:
    for grain in _COARSEST_FIRST:
        if floor(at, grain) == at and at + grain.step <= end:
            stop = floor(end, grain)
            coarser = _COARSER[grain]
            if coarser is not None:  # up to the next coarser boundary, to switch up there
                stop = min(stop, floor(at, coarser) + coarser.step)
            return grain, stop
    boundary = ceil(at, Granularity.MINUTE)  # raw rows up to the next minute, or the end
    return None, min(boundary, end) if boundary != at else end
