"""Usage stored before version 2 (costs NOT NULL, no bins, no rollups) is migrated on both
stores: its bins are filled, it is rolled up, and it answers like new usage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.analytics import reports
from services.analytics.feedback import FeedbackSource, feedback
from services.analytics.histogram import bin_of
from services.analytics.schema import MIGRATIONS, SERVICE
from services.analytics.sql import iso_utc
from services.analytics.store import open_usage_store
from services.shared.db import migrate, open_database
from tests.integration.analytics.conftest import MAX_BATCH
from tests.integration.analytics.events import T0, event

V1_INSERT = (
    "INSERT INTO usage_events (event_id, time, served_model, provider, prompt_tokens,"
    " completion_tokens, cost_usd, baseline_cost_usd, latency_ms, ttft_ms, status)"
    " VALUES ($1, $2, 'groq/llama', 'groq', $3, 10, 0, 0.002, $4, $5, 'ok')"
)


async def test_version_1_rows_are_migrated_and_rolled_up(
    database_url: str | None, sqlite_file: Path
) -> None:
    db = await open_database(database_url, sqlite_file)
    try:
        assert await migrate(db, SERVICE, MIGRATIONS[:1]) == 1
        for n, (latency, ttft) in enumerate([(250.0, 0.0), (0.5, 90.0), (4e6, 1.0)]):
            when = T0 + timedelta(minutes=n)
            stamp = iso_utc(when) if db.dialect == "sqlite" else when
            await db.execute(V1_INSERT, f"old-{n}", stamp, 100 + n, latency, ttft)
    finally:
        await db.close()
    store = await open_usage_store(database_url, sqlite_file, max_batch_events=MAX_BATCH)
    try:
        rows = await store.db.fetch(
            "SELECT event_id, latency_bin, ttft_bin, cost_usd FROM usage_events ORDER BY event_id"
        )
        assert [(r["latency_bin"], r["ttft_bin"], r["cost_usd"]) for r in rows] == [
            (bin_of(250.0), None, 0.0),
            (bin_of(0.5), bin_of(90.0), 0.0),
            (bin_of(4e6), bin_of(1.0), 0.0),
        ]
        assert await store.pending() == 3
        await store.store([event(10, time=T0 + timedelta(minutes=10))])
        before = await reports.summary(store, T0, T0 + timedelta(hours=1))
        await store.roll_up_all()
        after = await reports.summary(store, T0, T0 + timedelta(hours=1))
        assert [(m.model, m.requests, m.prompt_tokens) for m in after.models] == [
            (m.model, m.requests, m.prompt_tokens) for m in before.models
        ]
        assert after.total.savings_usd == pytest.approx(before.total.savings_usd)
        assert after.total.requests == 4
        assert after.total.prompt_tokens == 100 + 101 + 102 + event(10).prompt_tokens
        assert after.total.savings_usd > 0
    finally:
        await store.close()


async def test_on_postgresql_the_request_index_is_led_by_the_hour_after_version_3(
    database_url: str | None, sqlite_file: Path
) -> None:
    """Version 3 replaces version 2's hash index of request ids (random pages, at volume the
    bulk of ingest's WAL) with one led by the event's hour; SQLite keeps its own."""
    db = await open_database(database_url, sqlite_file)
    try:
        assert await migrate(db, SERVICE, MIGRATIONS[:2]) == 2
        await db.execute(
            "INSERT INTO usage_events (event_id, time, request_id) VALUES ('old-1', $1, 'req-old')",
            iso_utc(T0) if db.dialect == "sqlite" else T0,
        )
        assert await migrate(db, SERVICE, MIGRATIONS) == 3
        if db.dialect == "postgresql":
            definition = await db.fetchval(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'usage_events_request'"
                " AND schemaname = current_schema()"
            )
            assert "btree" in definition
            assert "(date_trunc('hour'" in definition
            assert "WHERE (request_id <> ''::text)" in definition
    finally:
        await db.close()
    store = await open_usage_store(database_url, sqlite_file, max_batch_events=MAX_BATCH)
    try:
        recorded = await store.record_feedback(
            feedback("req-old", score=1.0, thumb=None, source=FeedbackSource.APPLICATION)
        )
        assert recorded.event_id == "old-1"
    finally:
        await store.close()
