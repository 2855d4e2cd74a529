"""The usage store: idempotent ingest, the rollups beside it, and the reads queries need.

Ingest stores a batch and, in the same transaction, a narrow copy of each newly stored
event in `usage_pending`; an event already present (a replay) changes nothing. PostgreSQL
does both in one statement (the batch arrives as one array per column, `unnest`ed);
SQLite inserts the rows, then copies the ones past the rowid it started from.

`roll_up` moves pending events into every rollup in one transaction, so rollups are kept
on ingest within a tick (the worker in `maintenance.py` runs it); reads add the pending
events still in flight, so no answer waits for it. `prune` applies the retention.
"""

from __future__ import annotations

import abc
import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.analytics import sql
from services.analytics.export import Scores
from services.analytics.feedback import Feedback, FeedbackSource, Recorded
from services.analytics.metrics import AMOUNTS, COUNTS, Metrics
from services.analytics.queries import Dimension, Granularity, UsageFilter
from services.analytics.ranges import Level
from services.analytics.retention import Retention
from services.analytics.savings import RequestSaving
from services.analytics.schema import (
    ALL_GRAINS,
    COLUMNS,
    CUBES,
    DIMENSION_COLUMN,
    LATENCY_BINS,
    MIGRATIONS,
    PENDING,
    RAW_MODEL,
    SERVICE,
    Cube,
    cube_for,
)
from services.analytics.sql import iso_utc, utc
from services.analytics.usage import (
    StoreResult,
    Strategy,
    UsageBatch,
    UsageEvent,
    UsageStatus,
    validate_batch,
)
from services.shared.db import Database, PostgresDatabase, migrate, open_database
from services.shared.errors import InvalidArgument, NotFound

__all__ = ["COLUMNS", "iso_utc", "utc"]

ROLL_UP_LIMIT = 50_000  # pending events moved per transaction
PRUNE_CHUNK = 10_000  # rows deleted per statement, so no prune holds locks for long
ROLL_UP_WORK_MEM = "256MB"
RECENT_HOURS = 48  # feedback looks for its request in these hours first (and the next one)
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a read: its bucket (when bucketed), group values and metrics."""

    bucket: datetime | None
    group: tuple[str, ...]
    metrics: Metrics


class UsageStore(abc.ABC):
    """Stores validated usage batches idempotently and answers reads over them."""

    dialect: sql.Dialect

    def __init__(
        self,
        db: Database,
        max_batch_events: int,
        retention: Retention | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.db = db
        self.max_batch_events = max_batch_events
        self.retention = retention or Retention()
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ---- Ingest ---------------------------------------------------------------------

    def check(self, batch: UsageBatch) -> None:
        """Raise InvalidArgument naming the first field this store would refuse."""
        validate_batch(batch, self.max_batch_events)
        if self.retention.raw_days and len(batch):
            horizon = self.retention.horizon(None, self.now())
            times = batch["time"]
            if min(times) < horizon:
                index = next(i for i, t in enumerate(times) if t < horizon)
                raise InvalidArgument(
                    f"older than the raw-usage retention ({self.retention.raw_days} days):"
                    " it could no longer be told apart from a replay",
                    field=f"events[{index}].time",
                )

    async def store(self, events: Sequence[UsageEvent]) -> StoreResult:
        """Validate, then durably store `events`; events whose id is already stored (or
        repeated within the batch) are counted as duplicates and change nothing."""
        batch = UsageBatch.of(events)
        self.check(batch)
        return await self.insert(batch)

    async def insert(self, batch: UsageBatch) -> StoreResult:
        """`store` for a batch that already passed `check` (the Ingest pipeline checks
        each batch as it arrives, so it is not validated twice)."""
        if not len(batch):
            return StoreResult(0, 0)
        ids = batch["event_id"]
        firsts = list({event_id: i for i, event_id in reversed(list(enumerate(ids)))}.values())
        unique = batch if len(firsts) == len(ids) else batch.subset(sorted(firsts))
        new_ids = await self._insert(unique)
        if len(new_ids) == len(ids):
            new: tuple[int, ...] = tuple(range(len(ids)))
        else:
            wanted = set(new_ids)
            new = tuple(sorted(i for i in firsts if ids[i] in wanted))
        return StoreResult(len(new), len(ids) - len(new), new)

    def db_columns(self, batch: UsageBatch) -> list[list[Any]]:
        """The batch as the raw table's columns, in `COLUMNS` order."""
        convert: dict[str, Callable[[list[Any]], list[Any]]] = {
            "time": lambda col: [self.dialect.time(t) for t in col],
            "status": lambda col: list(map(_TEXT.__getitem__, col)),
            "strategy": lambda col: list(map(_TEXT.__getitem__, col)),
            "features": lambda col: [f or None for f in col],
            "capabilities": lambda col: [",".join(c) for c in col],
        }
        out = []
        for name in COLUMNS:
            column = batch.column(name)
            out.append(convert[name](column) if name in convert else column)
        return out

    @abc.abstractmethod
    async def _insert(self, batch: UsageBatch) -> list[str]:
        """Insert (ids unique within the batch) in one transaction; the ids that were new."""

    # ---- Rollups --------------------------------------------------------------------

    @abc.abstractmethod
    async def roll_up(self, limit: int = ROLL_UP_LIMIT) -> int:
        """Move at most `limit` pending events into the rollups; how many moved."""

    async def roll_up_all(self) -> int:
        moved = total = await self.roll_up()
        while moved:
            moved = await self.roll_up()
            total += moved
        return total

    async def pending(self) -> int:
        value: int = await self.db.fetchval("SELECT count(*) FROM usage_pending")
        return value

    # ---- Reads ----------------------------------------------------------------------

    def _horizon(self, grain: Granularity) -> Any:
        """The oldest bucket of `grain` a roll-up still writes (older ones are pruned)."""
        horizon = self.retention.horizon(grain, self.now())
        if self.retention.days(grain):
            horizon -= grain.step
        return self.dialect.time(horizon)

    def horizons(self, dims: set[Dimension]) -> dict[Level, datetime]:
        """Per level, the oldest time it holds for `dims` (a grain no cube keeps for these
        dimensions is read from raw rows)."""
        now = self.now()
        raw = self.retention.horizon(None, now)
        out: dict[Level, datetime] = {None: raw}
        for grain in ALL_GRAINS:
            out[grain] = self.retention.horizon(grain, now) if cube_for(dims, grain) else raw
        return out

    def source(self, dims: set[Dimension], level: Level) -> Cube | None:
        """The cube a read of `dims` at `level` uses; None: raw rows."""
        return None if level is None else cube_for(dims, level)

    async def read(
        self,
        level: Level,
        start: datetime,
        end: datetime,
        group: tuple[Dimension, ...],
        wanted: UsageFilter,
        bucket: Granularity | None = None,
    ) -> list[Row]:
        """Metrics over [start, end) per group (and per `bucket`), from the data of
        `level` (a cube keeping every dimension involved, else raw rows)."""
        filters = wanted.by_dimension()
        dims = set(group) | set(filters)
        cube = self.source(dims, level)
        read = sql.Read(cube, level if cube else None, start, end, group, filters, bucket)
        query, args = sql.read_sql(self.dialect, read)
        # Rows come back as (bucket?, group values..., metrics in METRIC_COLUMNS order).
        head = len(group) + (1 if bucket else 0)
        parse = self.dialect.parse_time
        out = []
        for row in await self._values(query, args):
            if not row[head]:
                continue  # the one all-zero row of an ungrouped read of nothing
            when = parse(row[0]) if bucket else None
            values = row[head:]
            group_values = tuple(str(v) for v in row[head - len(group) : head])
            out.append(Row(when, group_values, metrics_of(values)))
        return out

    @abc.abstractmethod
    async def _values(self, query: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        """The rows of a read, as sequences of values (no per-row dicts: reads are wide)."""

    async def request_savings(
        self, start: datetime, end: datetime, wanted: UsageFilter, limit: int
    ) -> list[RequestSaving]:
        """The newest `limit` requests of [start, end) as recorded (raw rows)."""
        params = sql.Params()
        where = self._raw_where(start, end, wanted, params)
        rows = await self.db.fetch(
            "SELECT event_id, request_id, time, served_model, requested_model, provider,"
            " prompt_tokens, completion_tokens, cost_usd, baseline_cost_usd"
            f" FROM usage_events WHERE {where}"
            f" ORDER BY time DESC, event_id DESC LIMIT {params.add(limit)}",
            *params.values,
        )
        return [
            RequestSaving(
                r["event_id"],
                r["request_id"],
                self.dialect.parse_time(r["time"]),
                r["served_model"] or r["requested_model"],
                r["provider"],
                int(r["prompt_tokens"]),
                int(r["completion_tokens"]),
                _maybe_float(r["cost_usd"]),
                _maybe_float(r["baseline_cost_usd"]),
            )
            for r in rows
        ]

    def _raw_where(
        self, start: datetime, end: datetime, wanted: UsageFilter, params: sql.Params
    ) -> str:
        where = f"time >= {params.add(self.dialect.time(start))}"
        where += f" AND time < {params.add(self.dialect.time(end))}"
        for dim, values in wanted.by_dimension().items():
            column = RAW_MODEL if dim is Dimension.MODEL else DIMENSION_COLUMN[dim]
            where += f" AND {column} IN ({params.many(values)})"
        return where

    async def export_page(
        self,
        start: datetime,
        end: datetime,
        wanted: UsageFilter,
        after: tuple[datetime, str] | None,
        size: int,
        with_feedback: bool,
    ) -> list[tuple[UsageEvent, Scores]]:
        """Up to `size` raw rows of [start, end) after `after` (time, event_id), in order."""
        params = sql.Params()
        where = self._raw_where(start, end, wanted, params)
        if after is not None:
            where += (
                f" AND (time, event_id) > ({params.add(self.dialect.time(after[0]))},"
                f" {params.add(after[1])})"
            )
        columns = ", ".join(f"e.{c}" for c in COLUMNS)
        joins = feedback_columns = ""
        if with_feedback:
            for source in FeedbackSource:
                alias = f"f_{source.value}"
                joins += (
                    f" LEFT JOIN usage_feedback {alias} ON {alias}.request_id = e.request_id"
                    f" AND {alias}.source = '{source.value}' AND e.request_id <> ''"
                )
                feedback_columns += f", {alias}.score AS {alias}"
        rows = await self.db.fetch(
            f"SELECT {columns}{feedback_columns} FROM"
            f" (SELECT * FROM usage_events WHERE {where}"
            f" ORDER BY time, event_id LIMIT {params.add(size)}) e{joins}"
            " ORDER BY e.time, e.event_id",
            *params.values,
        )
        out: list[tuple[UsageEvent, Scores]] = []
        for row in rows:
            scores = {
                s.value: float(row[f"f_{s.value}"])
                for s in FeedbackSource
                if with_feedback and row[f"f_{s.value}"] is not None
            }
            out.append((self._event(row), scores))
        return out

    def _event(self, row: Any) -> UsageEvent:
        return UsageEvent(
            event_id=row["event_id"],
            time=self.dialect.parse_time(row["time"]),
            key_id=row["key_id"],
            team_id=row["team_id"],
            request_id=row["request_id"],
            requested_model=row["requested_model"],
            served_model=row["served_model"],
            provider=row["provider"],
            prompt_tokens=int(row["prompt_tokens"]),
            completion_tokens=int(row["completion_tokens"]),
            cached_tokens=int(row["cached_tokens"]),
            reasoning_tokens=int(row["reasoning_tokens"]),
            cost_usd=_maybe_float(row["cost_usd"]),
            baseline_cost_usd=_maybe_float(row["baseline_cost_usd"]),
            latency_ms=float(row["latency_ms"]),
            ttft_ms=float(row["ttft_ms"]),
            attempts=int(row["attempts"]),
            cache_hit=bool(row["cache_hit"]),
            status=UsageStatus(row["status"]),
            complexity=float(row["complexity"]),
            strategy=Strategy(row["strategy"]),
            error=row["error"],
            stream=bool(row["stream"]),
            escalations=int(row["escalations"]),
            escalation_reason=row["escalation_reason"],
            features=bytes(row["features"] or b""),
            capabilities=tuple(c for c in row["capabilities"].split(",") if c),
        )

    # ---- Feedback -------------------------------------------------------------------

    async def record_feedback(self, feedback: Feedback) -> Recorded:
        """Store `feedback` with its request's usage event (the newest, if several)."""
        async with self.db.transaction() as tx:
            rows = await self._request_event(tx, feedback.request_id)
            if not rows or (feedback.key_id and rows[0]["key_id"] != feedback.key_id):
                raise NotFound(
                    f"no usage recorded for request {feedback.request_id!r}"
                    " (usage arrives within a second or two of the answer: retry then)",
                    field="request_id",
                )
            event_id = rows[0]["event_id"]
            before = await tx.fetch(
                "SELECT score FROM usage_feedback WHERE request_id = $1 AND source = $2",
                feedback.request_id,
                feedback.source.value,
            )
            await tx.execute(
                "INSERT INTO usage_feedback (request_id, source, score, event_id, recorded_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, source) DO UPDATE SET"
                " score = excluded.score, event_id = excluded.event_id,"
                " recorded_at = excluded.recorded_at",
                feedback.request_id,
                feedback.source.value,
                feedback.score,
                event_id,
                self.dialect.time(self.now()),
            )
        return Recorded(event_id, feedback, replaced=bool(before))

    async def _request_event(self, tx: Any, request_id: str) -> list[Any]:
        """The newest stored event of `request_id` (event_id, key_id), as 0 or 1 rows."""
        rows: list[Any] = await tx.fetch(
            "SELECT event_id, key_id FROM usage_events WHERE request_id = $1"
            " AND request_id <> '' ORDER BY time DESC LIMIT 1",
            request_id,
        )
        return rows

    # ---- Retention ------------------------------------------------------------------

    async def prune(self) -> dict[str, int]:
        """Delete what the retention no longer keeps; rows deleted per table."""
        now = self.now()
        deleted: dict[str, int] = {}
        if self.retention.raw_days:
            horizon = self.dialect.time(self.retention.horizon(None, now))
            deleted["usage_events"] = await self._prune("usage_events", "time < $1", horizon)
            deleted["usage_feedback"] = await self._prune(
                "usage_feedback", "recorded_at < $1", horizon
            )
        for grain in ALL_GRAINS:
            if not self.retention.days(grain):
                continue
            # A bucket goes once all of it is older than the horizon.
            horizon = self.dialect.time(self.retention.horizon(grain, now) - grain.step)
            for cube in CUBES:
                if grain in cube.grains:
                    count = await self._prune(
                        cube.table, f"grain = '{grain.value}' AND bucket <= $1", horizon
                    )
                    deleted[cube.table] = deleted.get(cube.table, 0) + count
        return deleted

    async def _prune(self, table: str, condition: str, value: Any) -> int:
        total = 0
        while True:
            count = await self._delete_chunk(table, condition, value)
            total += count
            if count < PRUNE_CHUNK:
                return total

    @abc.abstractmethod
    async def _delete_chunk(self, table: str, condition: str, value: Any) -> int: ...

    async def close(self) -> None:
        await self.db.close()


_FIRST = operator.itemgetter(0)
_TEXT: dict[Any, str] = {m: m.value for m in (*UsageStatus, *Strategy)}  # enum → stored text
_SCALARS = len(COUNTS) + len(AMOUNTS)
_BINS = len(LATENCY_BINS)


def metrics_of(values: Sequence[Any]) -> Metrics:
    """Metrics from values in METRIC_COLUMNS order (the field order of Metrics)."""
    latency = list(values[_SCALARS : _SCALARS + _BINS])
    return Metrics.of(values[:_SCALARS], latency, list(values[_SCALARS + _BINS :]))


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


class SqliteUsageStore(UsageStore):
    dialect = sql.Sqlite()
    _roll_up = sql.sqlite_roll_up(dialect)

    async def _values(self, query: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        return [list(row.values()) for row in await self.db.fetch(query, *args)]

    async def _insert(self, batch: UsageBatch) -> list[str]:
        rows = list(zip(*self.db_columns(batch), strict=True))
        async with self.db.transaction() as tx:
            before = await tx.fetchval("SELECT COALESCE(max(rowid), 0) FROM usage_events")
            await tx.executemany(sql.SQLITE_INSERT, rows)
            await tx.execute(sql.SQLITE_PENDING, before)
            new = await tx.fetch("SELECT event_id FROM usage_events WHERE rowid > $1", before)
        return [r["event_id"] for r in new]

    async def roll_up(self, limit: int = ROLL_UP_LIMIT) -> int:
        async with self.db.transaction() as tx:
            top = await tx.fetchval(
                "SELECT max(rowid) FROM (SELECT rowid FROM usage_pending ORDER BY rowid LIMIT $1)",
                limit,
            )
            if top is None:
                return 0
            moved: int = await tx.fetchval(
                "SELECT count(*) FROM usage_pending WHERE rowid <= $1", top
            )
            for statement, grain in self._roll_up:
                await tx.execute(statement, top, self._horizon(grain))
            await tx.execute("DELETE FROM usage_pending WHERE rowid <= $1", top)
        return moved

    async def _delete_chunk(self, table: str, condition: str, value: Any) -> int:
        async with self.db.transaction() as tx:
            before: int = await tx.fetchval("SELECT total_changes()")
            await tx.execute(
                f"DELETE FROM {table} WHERE rowid IN"
                f" (SELECT rowid FROM {table} WHERE {condition} LIMIT {PRUNE_CHUNK})",
                value,
            )
            after: int = await tx.fetchval("SELECT total_changes()")
        return after - before


class PostgresUsageStore(UsageStore):
    dialect = sql.Postgres()

    def __init__(
        self,
        db: PostgresDatabase,
        max_batch_events: int,
        retention: Retention | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(db, max_batch_events, retention, clock)
        self.pool = db.pool
        self._roll_up = sql.pg_roll_up(self.dialect)

    async def _values(self, query: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        rows: Sequence[Sequence[Any]] = await self.pool.fetch(query, *args)  # Records index
        return rows

    async def _insert(self, batch: UsageBatch) -> list[str]:
        """COPY straight into usage_events and usage_pending, the fast path of new events;
        a batch holding an id already stored (a replay) fails that COPY, and is merged
        through a stage instead, skipping what is there. Rows go in id order, so that
        concurrent overlapping batches lock ids in one order and cannot deadlock."""
        columns = self.db_columns(batch)
        rows = sorted(zip(*columns, strict=True), key=_FIRST)  # event_id first
        named = dict(zip(COLUMNS, columns, strict=True)) | {"model": batch.column("model")}
        pending = list(zip(*(named[c] for c in PENDING), strict=True))  # no order needed
        async with self.pool.acquire() as conn:
            try:
                # No savepoint around the first COPY: a replay aborts the whole
                # transaction, which stored nothing, and is merged in a new one.
                async with conn.transaction():
                    await conn.copy_records_to_table("usage_events", records=rows, columns=COLUMNS)
                    await conn.copy_records_to_table(
                        "usage_pending", records=pending, columns=PENDING
                    )
                return list(batch["event_id"])
            except asyncpg.UniqueViolationError:
                pass
            async with conn.transaction():
                # The stage lives as long as the pooled connection; each commit empties it.
                await conn.execute(sql.PG_CREATE_STAGE)
                await conn.copy_records_to_table(sql.PG_STAGE, records=rows, columns=COLUMNS)
                return [r[0] for r in await conn.fetch(sql.PG_MERGE)]

    async def _request_event(self, tx: Any, request_id: str) -> list[Any]:
        """Through the index led by the hour (schema version 3): first the hours feedback
        comes in, then every other hour that holds events (one index step per hour)."""
        hour = self.now().replace(minute=0, second=0, microsecond=0, tzinfo=None)
        recent = [hour - timedelta(hours=h) for h in range(-1, RECENT_HOURS)]
        rows: list[Any] = await tx.fetch(sql.PG_REQUEST_IN_HOURS, request_id, recent)
        if not rows:
            rows = await tx.fetch(sql.PG_REQUEST_IN_OTHER_HOURS, request_id, recent)
        return rows

    async def roll_up(self, limit: int = ROLL_UP_LIMIT) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM usage_pending)"):
                return 0  # the common tick: nothing arrived since the last one
            if not await conn.fetchval(sql.ROLL_UP_LOCK):
                return 0  # another replica is rolling up: it takes these too
            # The groupings of a large roll-up fit in memory (this transaction only).
            await conn.execute(f"SET LOCAL work_mem = '{ROLL_UP_WORK_MEM}'")
            horizons = [self._horizon(g) for g in ALL_GRAINS]
            moved: int = await conn.fetchval(self._roll_up, limit, *horizons)
        return moved

    async def _delete_chunk(self, table: str, condition: str, value: Any) -> int:
        async with self.pool.acquire() as conn:
            status: str = await conn.execute(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {table} WHERE {condition} LIMIT {PRUNE_CHUNK}))",
                value,
            )
        return int(status.rsplit(" ", 1)[-1])


async def open_usage_store(
    url: str | None,
    default_sqlite: Path,
    *,
    max_batch_events: int,
    retention: Retention | None = None,
    clock: Clock = time.time,
) -> UsageStore:
    """Open PostgreSQL (`postgresql://…`) or SQLite, apply migrations, return its adapter."""
    db = await open_database(url, default_sqlite)
    try:
        await migrate(db, SERVICE, MIGRATIONS)
    except BaseException:
        await db.close()
        raise
    if isinstance(db, PostgresDatabase):
        return PostgresUsageStore(db, max_batch_events, retention, clock)
    return SqliteUsageStore(db, max_batch_events, retention, clock)
