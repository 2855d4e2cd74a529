"""The query RPCs over real gRPC on 127.0.0.1:0, on SQLite and on PostgreSQL: answers,
server streams, live metrics fan-out, feedback, and INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import struct
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from freeway.analytics.v1 import analytics_pb2 as pb
from freeway.analytics.v1 import analytics_pb2_grpc
from freeway.common.v1 import common_pb2
from services.analytics import wire
from services.analytics.app import App, build
from services.analytics.config import AnalyticsSettings
from services.shared.settings import SuiteSettings
from tests.integration.analytics.events import NOW, T0, event, mixed, timestamp

EVENTS = mixed(120)  # 14 hours from T0
Stub = analytics_pb2_grpc.AnalyticsServiceStub


@pytest.fixture
async def app(database_url: str | None, tmp_path: Path) -> AsyncIterator[App]:
    suite = SuiteSettings(
        analytics_addr="127.0.0.1:0", data_dir=tmp_path, database_url=database_url
    )
    settings = AnalyticsSettings(shutdown_grace_s=1, roll_up_interval_s=0.05)
    running = build(settings, suite, clock=NOW.timestamp)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def stub(app: App) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
        yield analytics_pb2_grpc.AnalyticsServiceStub(ch)


async def ingest(stub: Stub, events: list[pb.UsageEvent]) -> None:
    requests = [
        pb.IngestRequest(sequence=i, events=events[i * 50 : (i + 1) * 50])
        for i in range((len(events) + 49) // 50)
    ]
    acks = [ack async for ack in stub.Ingest(iter(requests))]
    assert sum(a.stored + a.duplicates for a in acks) == len(events)


async def rolled_up(app: App) -> None:
    """Wait for the app's own roll-up worker to empty usage_pending."""
    assert app.store is not None
    for _ in range(400):
        if not await app.store.pending():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the roll-up worker never caught up")


@pytest.fixture
async def loaded(stub: Stub) -> Stub:
    await ingest(stub, [wire.proto_event(e) for e in EVENTS])
    return stub


async def test_timeseries_by_model_per_hour(loaded: Stub, app: App) -> None:
    request = pb.TimeseriesRequest(
        since=timestamp(T0),
        until=timestamp(T0 + timedelta(hours=14)),
        granularity=pb.GRANULARITY_HOUR,
        group_by=[pb.USAGE_DIMENSION_MODEL],
        percentiles=[50, 95],
    )
    pending = await loaded.Timeseries(request)
    await rolled_up(app)
    reply = await loaded.Timeseries(request)
    assert [s.total.requests for s in reply.series] == [s.total.requests for s in pending.series]
    assert reply.source == "usage_route"
    assert reply.granularity == pb.GRANULARITY_HOUR
    assert list(reply.percentiles) == [50, 95]
    assert sum(s.total.requests for s in reply.series) == len(EVENTS)
    unpriced = next(s for s in reply.series if s.group.model == "mistral/mystery-large")
    assert unpriced.total.unpriced_requests == unpriced.total.requests > 0
    assert unpriced.total.cost_usd == 0
    assert not unpriced.group.provider  # not grouped by provider
    first = reply.series[0].points[0]
    assert first.start.ToDatetime().replace(tzinfo=T0.tzinfo) >= T0
    assert len(first.metrics.latency_ms) == 2
    assert first.metrics.latency_ms[0] <= first.metrics.latency_ms[1]


async def test_timeseries_grouped_by_status_and_strategy_names_them(loaded: Stub) -> None:
    request = pb.TimeseriesRequest(
        since=timestamp(T0),
        until=timestamp(T0 + timedelta(days=1)),
        granularity=pb.GRANULARITY_DAY,
        group_by=[pb.USAGE_DIMENSION_STATUS, pb.USAGE_DIMENSION_STRATEGY],
        filter=pb.UsageFilter(statuses=[pb.USAGE_STATUS_ERROR]),
    )
    reply = await loaded.Timeseries(request)
    assert {s.group.status for s in reply.series} == {pb.USAGE_STATUS_ERROR}
    assert {s.group.strategy for s in reply.series} <= {
        common_pb2.STRATEGY_FREE_FIRST, common_pb2.STRATEGY_CASCADE, common_pb2.STRATEGY_COST
    }  # fmt: skip
    assert all(s.total.errors == s.total.requests for s in reply.series)


async def test_savings_against_given_prices_with_the_newest_requests(loaded: Stub) -> None:
    reply = await loaded.Savings(
        pb.SavingsRequest(
            since=timestamp(T0),
            until=timestamp(T0 + timedelta(days=1)),
            baseline=pb.BaselinePrices(
                model="openai/gpt-4o", input_per_mtok=2.5, output_per_mtok=10
            ),
            group_by=[pb.USAGE_DIMENSION_PROVIDER],
            request_limit=8,
        )
    )
    assert reply.baseline == "openai/gpt-4o"
    assert reply.total.requests == len(EVENTS)
    assert reply.total.unpriced_requests == sum(1 for e in EVENTS if e.cost_usd is None)
    assert reply.total.saving_usd > 0
    assert len(reply.requests) == 8
    for row in reply.requests:
        assert row.HasField("baseline_cost_usd")
        assert row.HasField("saving_usd") == row.HasField("cost_usd")
    assert any(not r.HasField("cost_usd") for r in reply.requests)  # unknown, not $0
    assert {g.group.provider for g in reply.groups} >= {"groq", "mistral"}


async def test_forecast_states_its_method(loaded: Stub) -> None:
    reply = await loaded.Forecast(
        pb.ForecastRequest(
            as_of=timestamp(T0 + timedelta(days=2)),
            quotas=[pb.QuotaLimit(model="groq/llama-3.1-8b-instant", requests_per_day=1000)],
        )
    )
    assert reply.days_observed == 2
    assert "mean of the daily totals" in reply.method
    assert reply.confidence == pytest.approx(0.9)
    assert reply.requests.to_date == len(EVENTS)
    assert reply.requests.low <= reply.requests.month_end <= reply.requests.high
    assert reply.month_end.ToDatetime().month == 4
    [quota] = reply.quotas
    assert quota.month_requests.to_date == sum(
        1 for e in EVENTS if e.served_model == "groq/llama-3.1-8b-instant"
    )


async def test_export_streams_csv_and_json_lines(loaded: Stub) -> None:
    window: dict[str, Any] = {"since": timestamp(T0), "until": timestamp(T0 + timedelta(days=1))}
    chunks = [
        c async for c in loaded.Export(pb.ExportRequest(format=pb.EXPORT_FORMAT_CSV, **window))
    ]
    rows = list(csv.DictReader(io.StringIO(b"".join(c.data for c in chunks).decode())))
    assert len(rows) == sum(c.rows for c in chunks) == len(EVENTS)
    lines = b"".join(
        [c.data async for c in loaded.Export(pb.ExportRequest(limit=5, **window))]
    ).splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [e.event_id for e in EVENTS[:5]]


async def test_feedback_and_features_come_back_in_the_export(stub: Stub) -> None:
    vector = struct.pack("<2d", 0.5, 2.0)
    await ingest(stub, [wire.proto_event(event(1, features=vector)), wire.proto_event(event(2))])
    reply = await stub.RecordFeedback(
        pb.RecordFeedbackRequest(
            request_id="req-1", thumb=pb.THUMB_UP, source=pb.FEEDBACK_SOURCE_APPLICATION
        )
    )
    assert (reply.event_id, reply.score, reply.replaced) == ("evt-000001", 1.0, False)
    request = pb.ExportRequest(include_feedback=True, include_features=True)
    lines = b"".join([c.data async for c in stub.Export(request)]).splitlines()
    first = json.loads(lines[0])
    assert (first["feedback_application"], first["features"]) == (1.0, [0.5, 2.0])
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.RecordFeedback(
            pb.RecordFeedbackRequest(request_id="req-9", score=0.5, source=pb.FEEDBACK_SOURCE_JUDGE)
        )
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert failure.value.details().startswith("request_id: no usage recorded for request 'req-9'")


async def test_live_metrics_reach_every_watcher(stub: Stub) -> None:
    recent = [
        wire.proto_event(
            event(n, time=NOW - timedelta(seconds=1 + n % 3), provider=("groq", "cerebras")[n % 2])
        )
        for n in range(30)
    ]
    await ingest(stub, recent)
    request = pb.WatchMetricsRequest(interval_ms=100, window_s=5)

    async def first_message() -> pb.LiveMetrics:
        call = stub.WatchMetrics(request)
        message = await call.read()
        call.cancel()
        assert isinstance(message, pb.LiveMetrics)
        return message

    messages = await asyncio.wait_for(asyncio.gather(*(first_message() for _ in range(40))), 20)
    assert all(m.total.requests == 30 for m in messages)
    m = messages[0]
    assert (m.window_s, m.total.requests_per_s) == (5, 6.0)
    assert [p.provider for p in m.providers] == ["cerebras", "groq"]  # 15 each: by name
    assert m.total.p50_latency_ms > 0


async def test_stopping_the_service_ends_live_streams_cleanly(app: App, stub: Stub) -> None:
    call = stub.WatchMetrics(pb.WatchMetricsRequest(interval_ms=100))
    assert isinstance(await call.read(), pb.LiveMetrics)
    await app.live.close()
    while (await call.read()) is not grpc.aio.EOF:
        pass
    assert await call.code() == grpc.StatusCode.OK


def loose(message_type: type) -> Any:
    """The message type, untyped: requests here carry values the stubs' types forbid."""
    return message_type


TS, SAV, FC, FB = (loose(t) for t in (pb.TimeseriesRequest, pb.SavingsRequest,
                                       pb.ForecastRequest, pb.RecordFeedbackRequest))  # fmt: skip
JUDGE = pb.FEEDBACK_SOURCE_JUDGE
LONG_AGO = timestamp(T0 - timedelta(days=400))


@pytest.mark.parametrize(
    ("rpc", "message", "details"),
    [
        ("Timeseries", TS(group_by=[42]), "group_by[0]: unknown value 42"),
        ("Timeseries", TS(granularity=9), "granularity: unknown value 9"),
        (
            "Timeseries",
            TS(since=LONG_AGO, granularity=pb.GRANULARITY_HOUR),
            "since: 9624 hour buckets from since to until; at most 3000",
        ),
        (
            "Timeseries",
            TS(filter=loose(pb.UsageFilter)(statuses=[7])),
            "filter.statuses[0]: unknown value 7",
        ),
        ("Timeseries", TS(percentiles=[101]), "percentiles[0]: expected 0 < p <= 100"),
        (
            "Savings",
            SAV(baseline=pb.BaselinePrices(input_per_mtok=-1)),
            "baseline.input_per_mtok: expected a price",
        ),
        ("Savings", SAV(since=timestamp(NOW), until=timestamp(T0)), "until: must not be before"),
        ("Forecast", FC(lookback_days=365), "lookback_days: at most 90, got 365"),
        ("RecordFeedback", FB(request_id="r", score=2, source=JUDGE), "score: expected a number"),
        ("RecordFeedback", FB(request_id="r", score=1), "source: required"),
        ("RecordFeedback", FB(request_id="r", thumb=7, source=JUDGE), "thumb: unknown value 7"),
    ],
)
async def test_bad_requests_are_invalid_argument_naming_the_field(
    stub: Stub, rpc: str, message: object, details: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await getattr(stub, rpc)(message)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith(details)


@pytest.mark.parametrize(
    ("rpc", "message", "details"),
    [
        ("Export", loose(pb.ExportRequest)(format=5), "format: unknown value 5"),
        ("WatchMetrics", pb.WatchMetricsRequest(interval_ms=10), "interval_ms: expected 100 to"),
    ],
)
async def test_bad_stream_requests_end_the_stream_naming_the_field(
    stub: Stub, rpc: str, message: object, details: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for _ in getattr(stub, rpc)(message):
            pass
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith(details)
