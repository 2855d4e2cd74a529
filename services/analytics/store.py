"""The usage store: one `usage_events` table, idempotent on `event_id`, two adapters.

SQLite (embedded default) inserts with `INSERT … ON CONFLICT DO NOTHING` in one
transaction. PostgreSQL bulk-loads each batch with COPY into a session temp table, then
`INSERT … SELECT … ON CONFLICT DO NOTHING`, all in one transaction: a batch is either
wholly durable or not stored at all, and a replayed batch never double-counts.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.analytics.usage import (
    ModelTotals,
    StoreResult,
    Summary,
    UsageEvent,
    UsageStatus,
    time_range,
    validate_batch,
)
from services.shared.db import Database, Migration, PostgresDatabase, migrate, open_database

SERVICE = "analytics"

COLUMNS = (
    "event_id", "time", "key_id", "request_id", "requested_model", "served_model", "provider",
    "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "latency_ms",
    "ttft_ms", "attempts", "cache_hit", "status", "complexity", "strategy", "error", "stream",
)  # fmt: skip

_SCHEMA = """
CREATE TABLE usage_events (
  event_id TEXT PRIMARY KEY,
  time {time} NOT NULL,
  key_id TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '',
  requested_model TEXT NOT NULL DEFAULT '',
  served_model TEXT NOT NULL DEFAULT '',
  provider TEXT NOT NULL DEFAULT '',
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
  baseline_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
  latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
  ttft_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  cache_hit BOOLEAN NOT NULL DEFAULT FALSE,
  status TEXT NOT NULL DEFAULT '',
  complexity DOUBLE PRECISION NOT NULL DEFAULT 0,
  strategy TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  stream BOOLEAN NOT NULL DEFAULT FALSE,
  ingested_at {time} NOT NULL DEFAULT {now}
);
CREATE INDEX usage_events_time ON usage_events (time)
"""

MIGRATIONS = (
    Migration(
        1,
        "usage_events",
        sql="",
        # SQLite keeps times as fixed-width ISO-8601 UTC text, so text order is time order.
        sqlite=_SCHEMA.format(time="TEXT", now="(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"),
        postgresql=_SCHEMA.format(time="TIMESTAMPTZ", now="now()"),
    ),
)

_NAMES = ", ".join(COLUMNS)

INSERT_SQL = (
    f"INSERT INTO usage_events ({_NAMES})"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
    " ON CONFLICT (event_id) DO NOTHING"
)

SUMMARY_SQL = """
SELECT COALESCE(NULLIF(served_model, ''), requested_model) AS model, provider,
       COUNT(*) AS requests,
       CAST(SUM(CASE WHEN status = $3 THEN 1 ELSE 0 END) AS BIGINT) AS errors,
       CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens,
       CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens,
       SUM(cost_usd) AS cost_usd,
       SUM(baseline_cost_usd) AS baseline_cost_usd
FROM usage_events
WHERE time >= $1 AND time < $2
GROUP BY 1, 2
ORDER BY 1, 2
"""


class UsageStore(abc.ABC):
    """Stores validated usage batches idempotently and answers totals over time ranges."""

    def __init__(self, db: Database, max_batch_events: int) -> None:
        self.db = db
        self.max_batch_events = max_batch_events

    def check(self, events: Sequence[UsageEvent]) -> None:
        """Raise InvalidArgument naming the first field this store would refuse."""
        validate_batch(events, self.max_batch_events)

    async def store(self, events: Sequence[UsageEvent]) -> StoreResult:
        """Validate, then durably store `events`; events whose id is already stored (or
        repeated within the batch) are counted as duplicates and change nothing."""
        self.check(events)
        return await self.insert(events)

    async def insert(self, events: Sequence[UsageEvent]) -> StoreResult:
        """`store` for events that already passed `check` (the Ingest pipeline checks
        each batch as it arrives, so it is not validated twice)."""
        if not events:
            return StoreResult(0, 0)
        stored = await self._insert(events)
        return StoreResult(stored, len(events) - stored)

    async def summary(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Summary:
        """Totals per served model over [since, until), plus the overall total."""
        start, end = time_range(since, until)
        rows = await self.db.fetch(
            SUMMARY_SQL, self._time(start), self._time(end), UsageStatus.ERROR.value
        )
        return Summary.of(_totals(row) for row in rows)

    async def close(self) -> None:
        await self.db.close()

    @abc.abstractmethod
    async def _insert(self, events: Sequence[UsageEvent]) -> int:
        """Insert in one transaction; return how many rows were new."""

    @abc.abstractmethod
    def _time(self, when: datetime) -> Any:
        """`when` as this dialect stores it."""


class SqliteUsageStore(UsageStore):
    async def _insert(self, events: Sequence[UsageEvent]) -> int:
        rows = [_row(event, iso_utc(_when(event))) for event in events]
        async with self.db.transaction() as tx:
            # total_changes() counts rows actually inserted; conflicts leave it unchanged.
            before: int = await tx.fetchval("SELECT total_changes()")
            await tx.executemany(INSERT_SQL, rows)
            after: int = await tx.fetchval("SELECT total_changes()")
        return after - before

    def _time(self, when: datetime) -> str:
        return iso_utc(when)


class PostgresUsageStore(UsageStore):
    """Bulk ingest with COPY (asyncpg `copy_records_to_table`) through a temp table."""

    _STAGE = "usage_ingest"
    _CREATE_STAGE = (
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE usage_events INCLUDING DEFAULTS)"
        " ON COMMIT DELETE ROWS"
    )
    # Sorted, so that concurrent replays of overlapping batches lock rows in one order
    # and cannot deadlock each other.
    _MERGE = (
        f"INSERT INTO usage_events ({_NAMES}) SELECT {_NAMES} FROM {_STAGE}"
        " ORDER BY event_id ON CONFLICT (event_id) DO NOTHING"
    )

    def __init__(self, db: PostgresDatabase, max_batch_events: int) -> None:
        super().__init__(db, max_batch_events)
        self.pool = db.pool

    async def _insert(self, events: Sequence[UsageEvent]) -> int:
        rows = [_row(event, _when(event)) for event in events]
        async with self.pool.acquire() as conn, conn.transaction():
            # The stage lives as long as the pooled connection; each commit empties it.
            await conn.execute(self._CREATE_STAGE)
            await conn.copy_records_to_table(self._STAGE, records=rows, columns=COLUMNS)
            status: str = await conn.execute(self._MERGE)
        return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <rows>"

    def _time(self, when: datetime) -> datetime:
        return utc(when)


async def open_usage_store(
    url: str | None, default_sqlite: Path, *, max_batch_events: int
) -> UsageStore:
    """Open PostgreSQL (`postgresql://…`) or SQLite, apply migrations, return its adapter."""
    db = await open_database(url, default_sqlite)
    try:
        await migrate(db, SERVICE, MIGRATIONS)
    except BaseException:
        await db.close()
        raise
    if isinstance(db, PostgresDatabase):
        return PostgresUsageStore(db, max_batch_events)
    return SqliteUsageStore(db, max_batch_events)


def utc(when: datetime) -> datetime:
    """`when` in UTC; a naive datetime is taken to be UTC already (never local time)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def iso_utc(when: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so that text order is time order."""
    return utc(when).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _when(event: UsageEvent) -> datetime:
    assert event.time is not None, "validate_batch rejects events without a time"
    return utc(event.time)


def _row(event: UsageEvent, when: Any) -> tuple[Any, ...]:
    return (
        event.event_id, when, event.key_id, event.request_id, event.requested_model,
        event.served_model, event.provider, event.prompt_tokens, event.completion_tokens,
        event.cost_usd, event.baseline_cost_usd, event.latency_ms, event.ttft_ms,
        event.attempts, event.cache_hit, event.status.value, event.complexity,
        event.strategy.value, event.error, event.stream,
    )  # fmt: skip


def _totals(row: Any) -> ModelTotals:
    return ModelTotals(
        model=row["model"],
        provider=row["provider"],
        requests=int(row["requests"]),
        errors=int(row["errors"]),
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        cost_usd=float(row["cost_usd"]),
        baseline_cost_usd=float(row["baseline_cost_usd"]),
    )
