"""The SQL the usage store runs, generated once per shape from the schema's column lists.

Two dialects: PostgreSQL keeps times as TIMESTAMPTZ and truncates them with `date_trunc`;
SQLite keeps fixed-width ISO-8601 UTC text ("2026-03-01T12:34:56.000000Z") and truncates
it with `substr`. Everything else is portable SQL (`$n` parameters; SQLite's adapter
rewrites them).

Every read has one shape: inner rows (rollup rows, pending events or raw events, each
turned into the metric columns) UNION ALL'ed, then summed per (bucket, group) outside. A
rollup and the pending events beside it are read in one statement, so the roll-up worker
moving events from one to the other can never make a query count an event twice or miss it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.analytics.metrics import COUNTS, SCALARS
from services.analytics.queries import Dimension, Granularity
from services.analytics.schema import (
    ALL_GRAINS,
    COLUMNS,
    CUBES,
    DIMENSION_COLUMN,
    LATENCY_BINS,
    METRIC_COLUMNS,
    PENDING,
    RAW_MODEL,
    REQUEST_HOUR,
    TTFT_BINS,
    Cube,
)


def utc(when: datetime) -> datetime:
    """`when` in UTC; a naive datetime is taken to be UTC already (never local time)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def iso_utc(when: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so that text order is time order."""
    return utc(when).isoformat(timespec="microseconds").replace("+00:00", "Z")


_BOTH_KNOWN = "cost_usd IS NOT NULL AND baseline_cost_usd IS NOT NULL"

# Each additive scalar of one event row (pending or raw).
ROW_SCALARS: dict[str, str] = {
    "requests": "1",
    "errors": "CASE WHEN status = 'error' THEN 1 ELSE 0 END",
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "cached_tokens": "cached_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "priced_requests": "CASE WHEN cost_usd IS NULL THEN 0 ELSE 1 END",
    "priced_prompt_tokens": "CASE WHEN cost_usd IS NULL THEN 0 ELSE prompt_tokens END",
    "priced_completion_tokens": "CASE WHEN cost_usd IS NULL THEN 0 ELSE completion_tokens END",
    "saving_requests": f"CASE WHEN {_BOTH_KNOWN} THEN 1 ELSE 0 END",
    "cache_hits": "CASE WHEN cache_hit THEN 1 ELSE 0 END",
    "escalations": "escalations",
    "cost_usd": "COALESCE(cost_usd, 0)",
    "baseline_cost_usd": f"CASE WHEN {_BOTH_KNOWN} THEN baseline_cost_usd ELSE 0 END",
    "saving_usd": f"CASE WHEN {_BOTH_KNOWN} THEN baseline_cost_usd - cost_usd ELSE 0 END",
    "latency_sum_ms": "latency_ms",
    "ttft_sum_ms": "CASE WHEN ttft_bin IS NULL THEN 0 ELSE ttft_ms END",
}
assert list(ROW_SCALARS) == list(SCALARS)
_INTEGERS = frozenset(COUNTS + LATENCY_BINS + TTFT_BINS)


# Sums run in DOUBLE PRECISION and only the result is cast back: PostgreSQL's SUM of a
# BIGINT keeps a numeric state per group (allocated, slow), its SUM of a float a plain
# number. Counts stay exact: every integer below 2^53 is a double.
_FLOAT = "DOUBLE PRECISION"


def summed(name: str, expression: str | None = None) -> str:
    total = f"SUM({_float(expression or name)})"
    if name in _INTEGERS:
        return f"CAST(COALESCE({total}, 0) AS BIGINT) AS {name}"
    return f"COALESCE({total}, 0) AS {name}"


def _float(expression: str) -> str:
    return f"CAST({expression} AS {_FLOAT})"


SUMS = ", ".join(summed(c) for c in METRIC_COLUMNS)


def fine(source: str, where: str, keys: Sequence[tuple[str, str]]) -> str:
    """Event rows of `source` (WHERE `where`) as fine rows: per (`keys`, latency bin) with
    the scalars summed (`tb` NULL), and per (`keys`, ttft bin) with nothing else (`lb`
    NULL). Narrow rows that add up like the events. The two histograms go apart: counted
    jointly, (latency bin, ttft bin) pairs would make nearly every event a group of its own.
    """
    # Grouped by the expressions, not their aliases: an alias that is also a column name
    # (a minute `bucket` truncated to its hour) would group by the column.
    names = [expr for expr, _ in keys]
    key_sql = "".join(f"{expr} AS {alias}, " for expr, alias in keys)
    scalars = ", ".join(f"SUM({_float(ROW_SCALARS[c])}) AS {c}" for c in SCALARS)
    zeros = ", ".join(f"0.0 AS {c}" for c in SCALARS)
    n = f"CAST(count(*) AS {_FLOAT}) AS n"
    latency = (
        f"SELECT {key_sql}latency_bin AS lb, CAST(NULL AS SMALLINT) AS tb, {n}, {scalars}"
        f" FROM {source} WHERE {where} GROUP BY {', '.join([*names, 'latency_bin'])}"
    )
    ttft = (
        f"SELECT {key_sql}CAST(NULL AS SMALLINT) AS lb, ttft_bin AS tb, {n}, {zeros}"
        f" FROM {source} WHERE ({where}) AND ttft_bin IS NOT NULL"
        f" GROUP BY {', '.join([*names, 'ttft_bin'])}"
    )
    return f"{latency} UNION ALL {ttft}"


def regroup(source: str, where: str, keys: Sequence[tuple[str, str]]) -> str:
    """Fine rows of `source` (WHERE `where`) summed per (`keys`, bins): still fine rows."""
    names = [expr for expr, _ in keys]  # the expressions: see `fine`
    key_sql = "".join(f"{expr} AS {alias}, " for expr, alias in keys)
    scalars = ", ".join(f"SUM({c}) AS {c}" for c in SCALARS)
    return (
        f"SELECT {key_sql}lb, tb, SUM(n) AS n, {scalars} FROM {source} WHERE {where}"
        f" GROUP BY {', '.join([*names, 'lb', 'tb'])}"
    )


def spread(source: str, where: str, keys: Sequence[tuple[str, str]]) -> str:
    """Fine rows of `source` (WHERE `where`) summed per `keys` into the metric columns.

    They are first summed per (keys, bins) — narrow rows, cheap to group — and only those
    groups are spread over one column per bin: spreading every event (or every fine row)
    over 124 bin columns, then grouping those wide rows, would cost far more."""
    names = [alias for _, alias in keys]
    columns = [summed(c) for c in SCALARS]
    columns += [
        summed(c, f"CASE WHEN lb = {i} THEN n ELSE 0 END") for i, c in enumerate(LATENCY_BINS)
    ]
    columns += [summed(c, f"CASE WHEN tb = {i} THEN n ELSE 0 END") for i, c in enumerate(TTFT_BINS)]
    group = f" GROUP BY {', '.join(names)}" if names else ""
    regrouped = regroup(source, where, keys)
    return f"SELECT {', '.join([*names, *columns])} FROM ({regrouped}) x{group}"


def events_aggregate(source: str, where: str, keys: Sequence[tuple[str, str]]) -> str:
    """Event rows of `source` (WHERE `where`) summed per `keys` ((expression, alias)
    pairs) into the metric columns."""
    same = [(alias, alias) for _, alias in keys]
    return spread(f"({fine(source, where, keys)}) f", "true", same)


class Dialect:
    name = ""

    def bucket(self, grain: Granularity, column: str) -> str:
        raise NotImplementedError

    def time(self, when: datetime) -> Any:
        raise NotImplementedError

    def parse_time(self, value: Any) -> datetime:
        raise NotImplementedError


class Postgres(Dialect):
    name = "postgresql"

    def bucket(self, grain: Granularity, column: str) -> str:
        return f"date_trunc('{grain.value}', {column}, 'UTC')"

    def time(self, when: datetime) -> datetime:
        return when

    def parse_time(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value


_SQLITE_BUCKET = {
    Granularity.MINUTE: "substr({c}, 1, 16) || ':00.000000Z'",
    Granularity.HOUR: "substr({c}, 1, 13) || ':00:00.000000Z'",
    Granularity.DAY: "substr({c}, 1, 10) || 'T00:00:00.000000Z'",
}


class Sqlite(Dialect):
    name = "sqlite"

    def bucket(self, grain: Granularity, column: str) -> str:
        return _SQLITE_BUCKET[grain].format(c=column)

    def time(self, when: datetime) -> str:
        return iso_utc(when)

    def parse_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)


@dataclass
class Params:
    """Positional parameters, numbered as they are added ($1, $2, ...)."""

    values: list[Any] = field(default_factory=list)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def many(self, values: Sequence[Any]) -> str:
        return ", ".join(self.add(v) for v in values)


@dataclass(frozen=True)
class Read:
    """One read: the source (a cube and the pending events, or raw events), the range, the
    groups, the filter, and the bucket size of the answer (None: one row per group)."""

    cube: Cube | None
    grain: Granularity | None  # the cube rows' grain
    start: datetime
    end: datetime
    group: tuple[Dimension, ...]
    filter: Mapping[Dimension, tuple[str, ...]]
    bucket: Granularity | None


def read_sql(dialect: Dialect, read: Read) -> tuple[str, list[Any]]:
    params = Params()
    start, end = params.add(dialect.time(read.start)), params.add(dialect.time(read.end))
    names = [DIMENSION_COLUMN[d] for d in read.group]
    head = (["b"] if read.bucket else []) + names
    if read.cube is None:
        inner = _rows(dialect, "usage_events", read, params, start, end, raw=True)
    else:
        assert read.grain is not None
        inners = [
            _cube_rows(dialect, read.cube, read.grain, read, params, start, end),
            _rows(dialect, "usage_pending", read, params, start, end, raw=False),
        ]
        inner = " UNION ALL ".join(inners)
    group = f" GROUP BY {', '.join(head)}" if head else ""
    sql = f"SELECT {', '.join([*head, SUMS])} FROM ({inner}) u{group}"
    return sql, params.values


def _rows(
    dialect: Dialect, table: str, read: Read, params: Params, start: str, end: str, *, raw: bool
) -> str:
    keys = [(_dimension(d, raw), DIMENSION_COLUMN[d]) for d in read.group]
    if read.bucket:
        keys.insert(0, (dialect.bucket(read.bucket, "time"), "b"))
    where = f"time >= {start} AND time < {end}" + _filters(read.filter, params, raw)
    return events_aggregate(table, where, keys)


def _cube_rows(
    dialect: Dialect,
    cube: Cube,
    grain: Granularity,
    read: Read,
    params: Params,
    start: str,
    end: str,
) -> str:
    columns = [DIMENSION_COLUMN[d] for d in read.group]
    if read.bucket:
        bucket = "bucket" if read.bucket == grain else dialect.bucket(read.bucket, "bucket")
        columns.insert(0, f"{bucket} AS b")
    where = (
        f"grain = {params.add(grain.value)} AND bucket >= {start} AND bucket < {end}"
        + _filters(read.filter, params, raw=False)
    )
    return f"SELECT {', '.join([*columns, *METRIC_COLUMNS])} FROM {cube.table} WHERE {where}"


def _dimension(dimension: Dimension, raw: bool) -> str:
    return RAW_MODEL if raw and dimension is Dimension.MODEL else DIMENSION_COLUMN[dimension]


def _filters(wanted: Mapping[Dimension, tuple[str, ...]], params: Params, raw: bool) -> str:
    return "".join(
        f" AND {_dimension(d, raw)} IN ({params.many(values)})" for d, values in wanted.items()
    )


# ---- Writes ------------------------------------------------------------------------------

_NAMES = ", ".join(COLUMNS)
_PENDING_SELECT = ", ".join(RAW_MODEL if c == "model" else c for c in PENDING)
_PENDING_NEEDS = ", ".join(
    dict.fromkeys(["event_id", "time", "served_model", "requested_model", *PENDING[2:]])
)

PG_STAGE = "usage_ingest"
PG_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {PG_STAGE} (LIKE usage_events INCLUDING DEFAULTS)"
    " ON COMMIT DELETE ROWS"
)
# After COPY into the stage: the new events (never a duplicate: ON CONFLICT skips them)
# are copied to usage_pending and their ids returned. Sorted by id, so that concurrent
# overlapping batches lock rows in one order.
PG_MERGE = f"""
WITH new AS (
  INSERT INTO usage_events ({_NAMES}) SELECT {_NAMES} FROM {PG_STAGE} ORDER BY event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING {_PENDING_NEEDS}
), pending AS (
  INSERT INTO usage_pending ({", ".join(PENDING)}) SELECT {_PENDING_SELECT} FROM new
)
SELECT event_id FROM new
"""

_VALUES = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
SQLITE_INSERT = (
    f"INSERT INTO usage_events ({_NAMES}) VALUES ({_VALUES}) ON CONFLICT (event_id) DO NOTHING"
)
SQLITE_PENDING = (
    f"INSERT INTO usage_pending ({', '.join(PENDING)})"
    f" SELECT {_PENDING_SELECT} FROM usage_events WHERE rowid > $1"
)

_EVERY_DIMENSION = ("model", "provider", "key_id", "team_id", "strategy", "status")


def _upsert(dialect: Dialect, cube: Cube, grain: Granularity, source: str, horizon: str) -> str:
    """Add `source` — fine rows of `cube`'s dimensions per `grain` bucket — into `cube`,
    skipping buckets older than `horizon` (retention would prune them)."""
    dims = list(cube.columns)
    keys = [("bucket", "bucket"), *((d, d) for d in dims)]
    key = ["grain", "bucket", *dims]
    # NULL is 0 in a rollup row (schema.py): stored as NULL, added as 0.
    update = ", ".join(
        f"{c} = COALESCE({cube.table}.{c} + excluded.{c}, {cube.table}.{c}, excluded.{c})"
        for c in METRIC_COLUMNS
    )
    values = ", ".join(f"NULLIF({c}, 0)" for c in METRIC_COLUMNS)
    rows = spread(source, f"bucket >= {horizon}", keys)
    return (
        f"INSERT INTO {cube.table} ({', '.join([*key, *METRIC_COLUMNS])})"
        f" SELECT '{grain.value}', {', '.join(['bucket', *dims])}, {values}"
        f" FROM ({rows}) r WHERE true ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update}"
    )


# Each cube's fine rows come from the finest relation that holds its dimensions: the
# events' own fine rows (every dimension, by the minute), or another cube's.
_DERIVED_FROM = {"usage_total": "usage_route"}


def _relations(dialect: Dialect, events: str, where: str) -> dict[str, str]:
    """name → SELECT of every fine relation a roll-up needs, in dependency order:
    `fine` (the events by the minute), then per cube and grain `<cube>_<grain>`, each
    summed from the one before (a cube's hours from its minutes, its days from its hours),
    so that only the first of each chain reads as many rows as there are events."""
    minute = [(dialect.bucket(Granularity.MINUTE, "time"), "bucket")]
    relations = {"fine": fine(events, where, minute + [(d, d) for d in _EVERY_DIMENSION])}
    for cube in sorted(CUBES, key=lambda c: c.table in _DERIVED_FROM):
        dims = [(d, d) for d in cube.columns]
        grains = ALL_GRAINS[ALL_GRAINS.index(cube.grains[0]) :]  # its finest grain, then up
        above = _DERIVED_FROM.get(cube.table)
        parent = f"{above}_{grains[0].value}" if above else "fine"
        for grain in grains:
            bucket = (
                dialect.bucket(grain, "bucket") if grain is not Granularity.MINUTE else "bucket"
            )
            name = f"{cube.table}_{grain.value}"
            relations[name] = regroup(parent, "true", [(bucket, "bucket"), *dims])
            parent = name
    return relations


def _targets() -> list[tuple[Cube, Granularity]]:
    return [(cube, grain) for cube in CUBES for grain in cube.grains]


HORIZON_PARAMS = {Granularity.MINUTE: "$2", Granularity.HOUR: "$3", Granularity.DAY: "$4"}
ROLL_UP_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('freeway analytics roll-up'))"


def pg_roll_up(dialect: Dialect) -> str:
    """Move at most $1 pending events into every rollup, in one statement (so in one
    transaction); $2..$4 are the minute / hour / day horizons. One worker at a time (an
    advisory lock, see the store), so upserts need no order to be free of deadlocks."""
    parts = [
        "moved AS (DELETE FROM usage_pending WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM usage_pending LIMIT $1)) RETURNING {', '.join(PENDING)})"
    ]
    parts += [
        f"{name} AS ({select})" for name, select in _relations(dialect, "moved", "true").items()
    ]
    parts += [
        f"u{i} AS ({_upsert(dialect, c, g, f'{c.table}_{g.value}', HORIZON_PARAMS[g])})"
        for i, (c, g) in enumerate(_targets())
    ]
    return f"WITH {', '.join(parts)} SELECT count(*) FROM moved"


def sqlite_roll_up(dialect: Dialect) -> list[tuple[str, Granularity]]:
    """(statement, grain) adding the pending events with rowid <= $1 into every rollup,
    each skipping buckets older than $2 (the horizon of its grain)."""
    relations = _relations(dialect, "usage_pending", "rowid <= $1")
    ctes = ", ".join(f"{name} AS ({select})" for name, select in relations.items())
    return [
        (f"WITH {ctes} {_upsert(dialect, c, g, f'{c.table}_{g.value}', '$2')}", g)
        for c, g in _targets()
    ]


# The newest event of request $1 through the index led by the hour (PostgreSQL, schema
# version 3): among the hours $2, or among every other hour holding events, found one index
# step per hour (a loose index scan), so no lookup reads the whole index.
_NEWEST = (
    "SELECT event_id, key_id FROM usage_events WHERE request_id = $1 AND request_id <> ''"
    f" AND {REQUEST_HOUR} = ANY({{hours}}) ORDER BY time DESC LIMIT 1"
)
PG_REQUEST_IN_HOURS = _NEWEST.format(hours="$2::timestamp[]")
PG_REQUEST_IN_OTHER_HOURS = (
    "WITH RECURSIVE hours(h) AS ("
    f" SELECT min({REQUEST_HOUR}) FROM usage_events WHERE request_id <> ''"
    f" UNION ALL SELECT (SELECT min({REQUEST_HOUR}) FROM usage_events"
    f" WHERE request_id <> '' AND {REQUEST_HOUR} > h) FROM hours WHERE h IS NOT NULL) "
    + _NEWEST.format(
        hours="ARRAY(SELECT h FROM hours WHERE h IS NOT NULL AND h <> ALL($2::timestamp[]))"
    )
)
