"""The AnalyticsService over real gRPC on 127.0.0.1:0, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from services.analytics.app import App, build
from services.analytics.config import AnalyticsSettings
from services.analytics.servicer import SERVICE_NAME
from services.analytics.usage import UsageStatus
from services.shared.settings import SuiteSettings
from tests.integration.analytics.conftest import MAX_BATCH
from tests.integration.analytics.events import NOW, T0, proto_event, timestamp


@pytest.fixture
async def app(database_url: str | None, tmp_path: Path) -> AsyncIterator[App]:
    suite = SuiteSettings(
        analytics_addr="127.0.0.1:0", data_dir=tmp_path, database_url=database_url
    )
    settings = AnalyticsSettings(max_batch_events=MAX_BATCH, shutdown_grace_s=1)
    running = build(settings, suite, clock=NOW.timestamp)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def channel(app: App) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> analytics_pb2_grpc.AnalyticsServiceStub:
    return analytics_pb2_grpc.AnalyticsServiceStub(channel)


def batch(sequence: int, numbers: range) -> analytics_pb2.IngestRequest:
    return analytics_pb2.IngestRequest(sequence=sequence, events=[proto_event(n) for n in numbers])


async def ingest(
    stub: analytics_pb2_grpc.AnalyticsServiceStub, *requests: analytics_pb2.IngestRequest
) -> list[tuple[int, int, int]]:
    """Send `requests` on one Ingest stream; the (sequence, stored, duplicates) acks."""
    return [(a.sequence, a.stored, a.duplicates) async for a in stub.Ingest(iter(requests))]


async def stored_rows(app: App) -> int:
    assert app.store is not None
    value: int = await app.store.db.fetchval("SELECT count(*) FROM usage_events")
    return value


async def test_each_batch_is_acknowledged_after_it_is_stored(
    app: App, stub: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    call = stub.Ingest()
    for sequence, numbers in enumerate((range(0, 10), range(10, 30), range(30, 35)), start=1):
        await call.write(batch(sequence, numbers))
        ack = await call.read()
        assert (ack.sequence, ack.stored, ack.duplicates) == (sequence, len(numbers), 0)
        assert await stored_rows(app) == numbers.stop
    await call.done_writing()
    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_replayed_batch_counts_duplicates_and_keeps_totals(
    stub: analytics_pb2_grpc.AnalyticsServiceStub,
) -> None:
    assert await ingest(stub, batch(1, range(20))) == [(1, 20, 0)]
    totals = await stub.Summary(analytics_pb2.SummaryRequest())
    assert await ingest(stub, batch(1, range(20))) == [(1, 0, 20)]
    assert await stub.Summary(analytics_pb2.SummaryRequest()) == totals
    assert await ingest(stub, batch(2, range(15, 25))) == [(2, 5, 5)]
    assert (await stub.Summary(analytics_pb2.SummaryRequest())).total.requests == 25


async def test_summary_totals(stub: analytics_pb2_grpc.AnalyticsServiceStub) -> None:
    events = [
        proto_event(0, cost_usd=0.0, baseline_cost_usd=0.002, prompt_tokens=100,
                    completion_tokens=10),
        proto_event(1, cost_usd=0.001, baseline_cost_usd=0.004, prompt_tokens=300,
                    completion_tokens=30, served_model="cerebras/llama3.1-8b",
                    provider="cerebras"),
        proto_event(2, status=UsageStatus.ERROR, prompt_tokens=0,
                    completion_tokens=0, baseline_cost_usd=0.0, error="429 from provider"),
    ]  # fmt: skip
    acks = await ingest(stub, analytics_pb2.IngestRequest(sequence=1, events=events))
    assert acks == [(1, 3, 0)]
    reply = await stub.Summary(analytics_pb2.SummaryRequest())
    models = {m.model: m for m in reply.models}
    assert set(models) == {"groq/llama-3.1-8b-instant", "cerebras/llama3.1-8b"}
    groq = models["groq/llama-3.1-8b-instant"]
    assert (groq.provider, groq.requests, groq.errors) == ("groq", 2, 1)
    assert (groq.prompt_tokens, groq.completion_tokens) == (100, 10)
    assert groq.savings_usd == pytest.approx(0.002)
    total = reply.total
    assert (total.requests, total.errors, total.prompt_tokens, total.completion_tokens) == (
        3, 1, 400, 40,
    )  # fmt: skip
    assert total.cost_usd == pytest.approx(0.001)
    assert total.baseline_cost_usd == pytest.approx(0.006)
    assert total.savings_usd == pytest.approx(0.005)

    window = analytics_pb2.SummaryRequest(
        since=timestamp(T0 + timedelta(minutes=1)), until=timestamp(T0 + timedelta(minutes=2))
    )
    assert [m.model for m in (await stub.Summary(window)).models] == ["cerebras/llama3.1-8b"]


async def test_invalid_event_aborts_the_stream_naming_it(
    app: App, stub: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    call = stub.Ingest()
    await call.write(batch(1, range(5)))
    assert (await call.read()).stored == 5
    bad = batch(2, range(5, 10))
    bad.events[3].event_id = ""
    await call.write(bad)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call.read()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details() == "events[3].event_id: required"
    assert await stored_rows(app) == 5


async def test_invalid_batch_mid_stream_keeps_the_batches_before_it(
    app: App, stub: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    bad = batch(3, range(20, 30))
    bad.events[0].cost_usd = -1.0
    call = stub.Ingest(
        iter([batch(1, range(10)), batch(2, range(10, 20)), bad, batch(4, range(30, 40))])
    )
    assert [(await call.read()).sequence, (await call.read()).sequence] == [1, 2]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call.read()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith("events[0].cost_usd: must be a finite number >= 0")
    assert await stored_rows(app) == 20


async def test_a_cancelled_stream_leaves_the_service_consistent(
    app: App, stub: analytics_pb2_grpc.AnalyticsServiceStub
) -> None:
    call = stub.Ingest()
    for sequence in range(1, 5):
        await call.write(batch(sequence, range((sequence - 1) * 10, sequence * 10)))
    call.cancel()
    # Whatever was committed before the cancel is whole batches; a replay completes it.
    assert await stored_rows(app) in (0, 10, 20, 30, 40)
    replay = [batch(s, range((s - 1) * 10, s * 10)) for s in range(1, 5)]
    acks = await ingest(stub, *replay)
    assert [(sequence, stored + dups) for sequence, stored, dups in acks] == [
        (1, 10), (2, 10), (3, 10), (4, 10)
    ]  # fmt: skip
    assert await stored_rows(app) == 40
    assert (await stub.Summary(analytics_pb2.SummaryRequest())).total.requests == 40


@pytest.mark.parametrize(
    ("spoil", "details"),
    [
        (lambda e: e.ClearField("time"), "events[0].time: required"),
        (
            lambda e: setattr(e, "prompt_tokens", -3),
            "events[0].prompt_tokens: must be >= 0, got -3",
        ),
        (lambda e: setattr(e, "event_id", "e" * 200), "events[0].event_id: at most 128 characters"),
        (lambda e: setattr(e, "status", 42), "events[0].status: unknown value 42"),
        (lambda e: setattr(e.time, "seconds", 2**40), "events[0].time: not a valid timestamp"),
    ],
)
async def test_bad_fields_are_invalid_argument(
    stub: analytics_pb2_grpc.AnalyticsServiceStub,
    spoil: Callable[[analytics_pb2.UsageEvent], object],
    details: str,
) -> None:
    request = batch(1, range(1))
    spoil(request.events[0])
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ingest(stub, request)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith(details)


async def test_oversized_batch_is_invalid_argument(
    stub: analytics_pb2_grpc.AnalyticsServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await ingest(stub, batch(1, range(MAX_BATCH + 1)))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details() == (
        f"events: at most {MAX_BATCH} events per batch, got {MAX_BATCH + 1}"
    )


async def test_reversed_summary_range_is_invalid_argument(
    stub: analytics_pb2_grpc.AnalyticsServiceStub,
) -> None:
    request = analytics_pb2.SummaryRequest(since=timestamp(T0), until=timestamp(T0 - timedelta(1)))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.Summary(request)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details() == "until: must not be before since"


async def test_health_names_the_service(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_embedded_default_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    suite = SuiteSettings(analytics_addr="127.0.0.1:0", data_dir=tmp_path, database_url=None)
    app = build(AnalyticsSettings(), suite, clock=NOW.timestamp)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
            acks = await ingest(analytics_pb2_grpc.AnalyticsServiceStub(ch), batch(1, range(3)))
    finally:
        await app.stop()
    assert acks == [(1, 3, 0)]
    assert (tmp_path / "analytics.sqlite3").is_file()


async def test_ingested_events_are_rows_in_postgresql(pg_schema: str, tmp_path: Path) -> None:
    suite = SuiteSettings(analytics_addr="127.0.0.1:0", data_dir=tmp_path, database_url=pg_schema)
    app = build(AnalyticsSettings(), suite, clock=NOW.timestamp)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
            await ingest(analytics_pb2_grpc.AnalyticsServiceStub(ch), batch(1, range(3)))
    finally:
        await app.stop()
    conn = await asyncpg.connect(pg_schema)
    try:
        rows = await conn.fetch(
            "SELECT event_id, time, served_model, prompt_tokens, status FROM usage_events"
            " ORDER BY event_id"
        )
    finally:
        await conn.close()
    assert [(r["event_id"], r["time"], r["status"]) for r in rows] == [
        (f"evt-{n:06d}", T0 + timedelta(minutes=n), "ok") for n in range(3)
    ]
    assert {r["served_model"] for r in rows} == {"groq/llama-3.1-8b-instant"}
    assert [r["prompt_tokens"] for r in rows] == [100, 101, 102]
