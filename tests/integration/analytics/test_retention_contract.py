"""Retention, on both stores: what is pruned, what is still answered from coarser rollups,
and the replay guard at ingest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.analytics import queries, reports
from services.analytics.queries import Dimension, Granularity
from services.analytics.retention import Retention
from services.analytics.store import PRUNE_CHUNK, UsageStore, open_usage_store
from services.shared.errors import InvalidArgument
from tests.integration.analytics.conftest import MAX_BATCH
from tests.integration.analytics.events import T0, event, mixed

EVENTS = mixed(300)  # T0 .. T0 + 35 h
RETENTION = Retention(raw_days=2, minute_days=1, hour_days=3, day_days=0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(days=1, hours=12))


@pytest.fixture
async def kept(
    database_url: str | None, sqlite_file: Path, clock: Clock
) -> AsyncIterator[UsageStore]:
    store = await open_usage_store(
        database_url, sqlite_file, max_batch_events=MAX_BATCH, retention=RETENTION, clock=clock
    )
    for start in range(0, len(EVENTS), MAX_BATCH):
        await store.store(EVENTS[start : start + MAX_BATCH])
    await store.roll_up_all()
    yield store
    await store.close()


async def count(store: UsageStore, table: str, where: str = "true") -> int:
    value: int = await store.db.fetchval(f"SELECT count(*) FROM {table} WHERE {where}")
    return value


async def test_pruning_keeps_what_each_horizon_holds(kept: UsageStore, clock: Clock) -> None:
    clock.now = T0 + timedelta(days=3)  # raw from T0+1d, minutes from T0+2d, hours from T0
    deleted = await kept.prune()
    raw_left = [e for e in EVENTS if e.time is not None and e.time >= T0 + timedelta(days=1)]
    assert await count(kept, "usage_events") == len(raw_left)
    assert deleted["usage_events"] == len(EVENTS) - len(raw_left)
    assert await count(kept, "usage_total", "grain = 'minute'") == 0
    assert await count(kept, "usage_total", "grain = 'hour'") > 0
    # Day rollups are kept forever here: usage_full, kept by the day only, is not pruned.
    tables = ("usage_events", "usage_feedback", "usage_total", "usage_route", "usage_caller")
    assert await kept.prune() == dict.fromkeys(tables, 0)


async def test_old_ranges_are_answered_from_coarser_rollups(kept: UsageStore, clock: Clock) -> None:
    clock.now = T0 + timedelta(days=3)
    await kept.prune()
    # Every event is still counted: hours and days outlive raw rows and minutes.
    summary = await reports.summary(kept, T0, T0 + timedelta(days=2))
    assert summary.total.requests == len(EVENTS)
    # A range that starts inside pruned minutes is widened to the hour, and says so.
    start, end, totals = await reports.over_range(
        kept, T0 + timedelta(minutes=10), T0 + timedelta(hours=30), (), queries.UsageFilter()
    )
    assert (start, end) == (T0, T0 + timedelta(hours=30))
    assert totals[()].requests == sum(
        1 for e in EVENTS if e.time is not None and e.time < T0 + timedelta(hours=30)
    )


async def test_a_minute_series_says_where_its_data_begins(kept: UsageStore, clock: Clock) -> None:
    clock.now = T0 + timedelta(days=2, hours=6)
    await kept.prune()
    q = queries.timeseries(
        since=T0, until=T0 + timedelta(hours=40), granularity=Granularity.MINUTE,
        now=clock.now, group_by_=[Dimension.MODEL],
    )  # fmt: skip
    result = await reports.timeseries(kept, q)
    horizon = clock.now - timedelta(days=1)
    assert result.retained_since == horizon
    assert all(when + timedelta(minutes=1) > horizon for s in result.series for when, _ in s.points)
    assert result.series


async def test_an_event_older_than_raw_retention_is_refused(kept: UsageStore, clock: Clock) -> None:
    old = event(9, time=clock.now - timedelta(days=2, seconds=1))
    with pytest.raises(InvalidArgument, match=r"^events\[1\]\.time: older than the raw-usage"):
        await kept.store([event(8, time=clock.now), old])
    assert await kept.store([event(10, time=clock.now - timedelta(days=1))]) is not None


async def test_prune_deletes_in_chunks(
    database_url: str | None, sqlite_file: Path, clock: Clock
) -> None:
    store = await open_usage_store(
        database_url,
        sqlite_file,
        max_batch_events=PRUNE_CHUNK + 5,
        retention=RETENTION,
        clock=clock,
    )
    try:
        many = [event(n, time=T0 + timedelta(seconds=n)) for n in range(PRUNE_CHUNK + 5)]
        await store.store(many)
        clock.now = T0 + timedelta(days=5)
        assert (await store.prune())["usage_events"] == PRUNE_CHUNK + 5
        assert await count(store, "usage_events") == 0
    finally:
        await store.close()
