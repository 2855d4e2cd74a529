"""How long each kind of usage data is kept: raw rows, and rollups per grain.

0 keeps forever. Rollups can outlive raw rows by far (a month of hourly rollups is a few
thousand rows per group), which is the point of keeping them. Data older than a horizon is
treated as gone even before the next prune has deleted it, so an answer never depends on
when the pruner last ran.

One consequence is enforced at ingest: an event older than the raw horizon is refused,
since its raw row may already have been pruned and a replay of it could no longer be told
from a new event (it would be counted twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.analytics.queries import BEGINNING, Granularity
from services.analytics.ranges import Level


@dataclass(frozen=True)
class Retention:
    raw_days: int = 0
    minute_days: int = 0
    hour_days: int = 0
    day_days: int = 0

    def days(self, level: Level) -> int:
        if level is None:
            return self.raw_days
        return {
            Granularity.MINUTE: self.minute_days,
            Granularity.HOUR: self.hour_days,
            Granularity.DAY: self.day_days,
        }[level]

    def horizon(self, level: Level, now: datetime) -> datetime:
        """The oldest time `level` still holds in full."""
        days = self.days(level)
        return now - timedelta(days=days) if days else BEGINNING
