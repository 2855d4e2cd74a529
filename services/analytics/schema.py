"""The analytics tables, their migrations, and the rollups kept over them.

- `usage_events`: one row per event, idempotent on `event_id` (the raw rows).
- `usage_pending`: a narrow copy of each newly stored event, written in the same
  transaction; the roll-up worker moves it into the rollups (and queries read it beside
  them, so answers are exact before it has run).
- `usage_total`, `usage_route`, `usage_caller`, `usage_full`: rollups ("cubes"), one row per
  (grain, bucket, values of the cube's dimensions), holding the additive `Metrics`.
- `usage_feedback`: scores per (request, source).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.analytics import histogram
from services.analytics.metrics import AMOUNTS, COUNTS
from services.analytics.queries import Dimension, Granularity
from services.shared.db import Migration

SERVICE = "analytics"
ALL_GRAINS = (Granularity.MINUTE, Granularity.HOUR, Granularity.DAY)

# The raw row, in insert order (the domain's fields, then the bins derived from them).
COLUMNS = (
    "event_id", "time", "key_id", "team_id", "request_id", "requested_model", "served_model",
    "provider", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens",
    "cost_usd", "baseline_cost_usd", "latency_ms", "ttft_ms", "attempts", "cache_hit",
    "status", "complexity", "strategy", "error", "stream", "escalations", "escalation_reason",
    "features", "capabilities", "latency_bin", "ttft_bin",
)  # fmt: skip
# What the rollups need of an event; `model` is the served model, else the requested one.
PENDING = (
    "time", "model", "provider", "key_id", "team_id", "strategy", "status", "prompt_tokens",
    "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_usd", "baseline_cost_usd",
    "cache_hit", "escalations", "latency_ms", "ttft_ms", "latency_bin", "ttft_bin",
)  # fmt: skip

LATENCY_BINS = tuple(f"l{i:02d}" for i in range(histogram.BINS))
TTFT_BINS = tuple(f"t{i:02d}" for i in range(histogram.BINS))
METRIC_COLUMNS = COUNTS + AMOUNTS + LATENCY_BINS + TTFT_BINS

# Where each dimension lives: rollups and usage_pending have a column of its name, raw
# rows an expression.
DIMENSION_COLUMN = {
    Dimension.MODEL: "model",
    Dimension.PROVIDER: "provider",
    Dimension.KEY: "key_id",
    Dimension.TEAM: "team_id",
    Dimension.STRATEGY: "strategy",
    Dimension.STATUS: "status",
}
RAW_MODEL = "COALESCE(NULLIF(served_model, ''), requested_model)"


@dataclass(frozen=True)
class Cube:
    """A rollup table: metrics per (grain, bucket, values of `dims`)."""

    table: str
    dims: tuple[Dimension, ...]
    grains: tuple[Granularity, ...] = ALL_GRAINS

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(DIMENSION_COLUMN[d] for d in self.dims)


# Smallest first: a query reads the first cube that has its grain and every dimension it
# groups or filters by. Every dimension at once is kept by the day only: by the hour, keys ×
# models × strategies × statuses have about as many combinations as there are events, and
# a rollup row (with its histograms) is larger than an event; such queries read raw rows.
_ROUTE = (Dimension.MODEL, Dimension.PROVIDER, Dimension.STRATEGY, Dimension.STATUS)
CUBES = (
    Cube("usage_total", (Dimension.STATUS,)),
    Cube("usage_route", _ROUTE),
    Cube("usage_caller", (Dimension.TEAM, Dimension.KEY, Dimension.STATUS)),
    Cube(
        "usage_full",
        (Dimension.TEAM, Dimension.KEY, Dimension.MODEL, Dimension.PROVIDER,
         Dimension.STRATEGY, Dimension.STATUS),
        (Granularity.DAY,),
    ),
)  # fmt: skip


def cube_for(dimensions: set[Dimension], grain: Granularity) -> Cube | None:
    for cube in CUBES:
        if grain in cube.grains and dimensions <= set(cube.dims):
            return cube
    return None


def bin_case(column: str) -> str:
    """SQL giving `column`'s histogram bin, exactly as `histogram.bin_of` does (for rows
    stored before bins existed)."""
    edges = histogram.EDGES
    whens = " ".join(f"WHEN {column} < {edge!r} THEN {i}" for i, edge in enumerate(edges))
    return f"CASE {whens} ELSE {len(edges)} END"


# ---- Version 1: the raw rows -----------------------------------------------------------

_V1 = """
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

# ---- Version 2: unknown prices, teams, cascade, features; rollups; feedback -------------

_V1_COLUMNS = (
    "event_id", "time", "key_id", "request_id", "requested_model", "served_model", "provider",
    "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "latency_ms",
    "ttft_ms", "attempts", "cache_hit", "status", "complexity", "strategy", "error", "stream",
    "ingested_at",
)  # fmt: skip

_EVENTS_V2 = """
CREATE TABLE {name} (
  event_id TEXT PRIMARY KEY,
  time {time} NOT NULL,
  key_id TEXT NOT NULL DEFAULT '',
  team_id TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '',
  requested_model TEXT NOT NULL DEFAULT '',
  served_model TEXT NOT NULL DEFAULT '',
  provider TEXT NOT NULL DEFAULT '',
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  cached_tokens BIGINT NOT NULL DEFAULT 0,
  reasoning_tokens BIGINT NOT NULL DEFAULT 0,
  cost_usd DOUBLE PRECISION,
  baseline_cost_usd DOUBLE PRECISION,
  latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
  ttft_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  cache_hit BOOLEAN NOT NULL DEFAULT FALSE,
  status TEXT NOT NULL DEFAULT '',
  complexity DOUBLE PRECISION NOT NULL DEFAULT 0,
  strategy TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  stream BOOLEAN NOT NULL DEFAULT FALSE,
  escalations INTEGER NOT NULL DEFAULT 0,
  escalation_reason TEXT NOT NULL DEFAULT '',
  features {blob},
  capabilities TEXT NOT NULL DEFAULT '',
  latency_bin SMALLINT NOT NULL DEFAULT 0,
  ttft_bin SMALLINT,
  ingested_at {time} NOT NULL DEFAULT {now}
)
"""

_PG_ALTER_EVENTS = """
ALTER TABLE usage_events
  ALTER COLUMN cost_usd DROP NOT NULL, ALTER COLUMN cost_usd DROP DEFAULT,
  ALTER COLUMN baseline_cost_usd DROP NOT NULL, ALTER COLUMN baseline_cost_usd DROP DEFAULT,
  ADD COLUMN team_id TEXT NOT NULL DEFAULT '',
  ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN escalation_reason TEXT NOT NULL DEFAULT '',
  ADD COLUMN features BYTEA,
  ADD COLUMN capabilities TEXT NOT NULL DEFAULT '',
  ADD COLUMN latency_bin SMALLINT NOT NULL DEFAULT 0,
  ADD COLUMN ttft_bin SMALLINT
"""

_BINS = f"{bin_case('latency_ms')}, CASE WHEN ttft_ms > 0 THEN {bin_case('ttft_ms')} END"

_PENDING_TABLE = """
CREATE TABLE usage_pending (
  time {time} NOT NULL,
  model TEXT NOT NULL,
  provider TEXT NOT NULL,
  key_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  strategy TEXT NOT NULL,
  status TEXT NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  cached_tokens BIGINT NOT NULL,
  reasoning_tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION,
  baseline_cost_usd DOUBLE PRECISION,
  cache_hit BOOLEAN NOT NULL,
  escalations INTEGER NOT NULL,
  latency_ms DOUBLE PRECISION NOT NULL,
  ttft_ms DOUBLE PRECISION NOT NULL,
  latency_bin SMALLINT NOT NULL,
  ttft_bin SMALLINT
)
"""

_PENDING_FROM_EVENTS = (
    f"INSERT INTO usage_pending ({', '.join(PENDING)})"
    f" SELECT {', '.join(RAW_MODEL if c == 'model' else c for c in PENDING)} FROM usage_events"
)

_FEEDBACK_TABLE = """
CREATE TABLE usage_feedback (
  request_id TEXT NOT NULL,
  source TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  event_id TEXT NOT NULL,
  recorded_at {time} NOT NULL,
  PRIMARY KEY (request_id, source)
)
"""


def _cube_table(cube: Cube, time: str) -> str:
    """A rollup table. Its metrics are NULL where they are 0: most histogram bins of a row
    are empty, and a NULL costs a bit of the row's null bitmap where a 0 costs 8 bytes."""
    dims = "".join(f"  {c} TEXT NOT NULL,\n" for c in cube.columns)
    counts = "".join(f"  {c} BIGINT,\n" for c in COUNTS)
    amounts = "".join(f"  {c} DOUBLE PRECISION,\n" for c in AMOUNTS)
    bins = "".join(f"  {c} BIGINT,\n" for c in LATENCY_BINS + TTFT_BINS)
    key = ", ".join(("grain", "bucket", *cube.columns))
    return (
        f"CREATE TABLE {cube.table} (\n  grain TEXT NOT NULL,\n  bucket {time} NOT NULL,\n"
        f"{dims}{counts}{amounts}{bins}  PRIMARY KEY ({key})\n)"
    )


def _v2(dialect: str) -> str:
    time = "TIMESTAMPTZ" if dialect == "postgresql" else "TEXT"
    if dialect == "postgresql":
        events = [
            _PG_ALTER_EVENTS,
            f"UPDATE usage_events SET latency_bin = {bin_case('latency_ms')},"
            f" ttft_bin = CASE WHEN ttft_ms > 0 THEN {bin_case('ttft_ms')} END",
            # Feedback finds a request's usage by request id. Partial: events without one
            # would all share one hash bucket.
            "CREATE INDEX usage_events_request ON usage_events USING hash (request_id)"
            " WHERE request_id <> ''",
        ]
    else:
        # SQLite cannot drop NOT NULL: the table is rebuilt (in the migration's transaction).
        old = ", ".join(_V1_COLUMNS)
        events = [
            _EVENTS_V2.format(name="usage_events_v2", time=time, blob="BLOB", now=_SQLITE_NOW),
            f"INSERT INTO usage_events_v2 ({old}, latency_bin, ttft_bin)"
            f" SELECT {old}, {_BINS} FROM usage_events",
            "DROP TABLE usage_events",
            "ALTER TABLE usage_events_v2 RENAME TO usage_events",
            "CREATE INDEX usage_events_time ON usage_events (time)",
            "CREATE INDEX usage_events_request ON usage_events (request_id) WHERE request_id <> ''",
        ]
    tables = [
        _PENDING_TABLE.format(time=time),
        _PENDING_FROM_EVENTS,  # rows stored before rollups existed are rolled up too
        *(_cube_table(cube, time) for cube in CUBES),
        _FEEDBACK_TABLE.format(time=time),
    ]
    return ";\n".join(events + tables)


_SQLITE_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

# ---- Version 3: the request-id index, clustered by hour (PostgreSQL) ---------------------

# Request ids are random (Envoy's UUID4s), so an index of request ids alone takes each insert
# to a random page: at volume every one dirties a different page, and after each checkpoint
# each is written whole to the WAL (most of the WAL of ingest, measured). Led by the event's
# hour, inserts land in the current hour's part of the index, which stays small and hot;
# a lookup probes each hour it may be in, newest first (see PostgresUsageStore).
REQUEST_HOUR = "date_trunc('hour', time AT TIME ZONE 'UTC')"
_V3_PG = f"""
DROP INDEX IF EXISTS usage_events_request;
CREATE INDEX usage_events_request ON usage_events ({REQUEST_HOUR}, request_id)
  WHERE request_id <> ''
"""

MIGRATIONS = (
    Migration(
        1,
        "usage_events",
        sql="",
        # SQLite keeps times as fixed-width ISO-8601 UTC text, so text order is time order.
        sqlite=_V1.format(time="TEXT", now=_SQLITE_NOW),
        postgresql=_V1.format(time="TIMESTAMPTZ", now="now()"),
    ),
    Migration(
        2,
        "unknown prices, teams, cascade, features, rollups, feedback",
        sql="",
        sqlite=_v2("sqlite"),
        postgresql=_v2("postgresql"),
    ),
    # SQLite keeps its index of request ids: one writer, no full-page WAL images.
    Migration(3, "request-id index by hour", sql="", postgresql=_V3_PG),
)
