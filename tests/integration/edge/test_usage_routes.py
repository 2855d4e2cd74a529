"""The usage REST routes through the edge app, against a real analytics service (SQLite,
on loopback gRPC) and the fake catalog: JSON answers, the export download, feedback,
who may see what, and 400s that name the parameter."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from freeway.analytics.v1 import analytics_pb2 as pb
from freeway.analytics.v1 import analytics_pb2_grpc
from services.analytics import wire
from services.analytics.app import App, build
from services.analytics.config import AnalyticsSettings
from services.edge.auth import Keyring
from services.edge.config import key_digest
from services.shared.server import Registration, start_server
from services.shared.settings import SuiteSettings
from tests.conftest import free_port
from tests.integration.analytics.events import NOW, mixed
from tests.integration.edge.conftest import (
    ADMIN_KEY,
    AUTH,
    Backends,
    Edge,
    EdgeFactory,
    assert_openai_error,
)

EVENTS = mixed(120)  # 2026-03-01 12:00 .. 14 hours later, keys key-a/b/c
MEMBER_KEY = "member-secret"
MEMBER = {"Authorization": f"Bearer {MEMBER_KEY}"}
DAY: dict[str, Any] = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-03T00:00:00Z"}


@pytest.fixture
async def analytics(tmp_path: Path) -> AsyncIterator[App]:
    suite = SuiteSettings(analytics_addr="127.0.0.1:0", data_dir=tmp_path, database_url=None)
    app = build(AnalyticsSettings(shutdown_grace_s=1), suite, clock=NOW.timestamp)
    await app.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(ch)
        batches = [
            pb.IngestRequest(sequence=i, events=[wire.proto_event(e) for e in EVENTS[i : i + 60]])
            for i in range(0, len(EVENTS), 60)
        ]
        assert sum([a.stored async for a in stub.Ingest(iter(batches))]) == len(EVENTS)
    yield app
    await app.stop()


def keyring() -> Keyring:
    digest = key_digest(ADMIN_KEY)
    return Keyring(digest, {key_digest(MEMBER_KEY): "key-a"})


def suite_for(backends: Backends, analytics: App, **overrides: Any) -> SuiteSettings:
    return backends.suite(analytics_addr=f"127.0.0.1:{analytics.port}", **overrides)


@pytest.fixture
async def edge(make_edge: EdgeFactory, backends: Backends, analytics: App) -> AsyncIterator[Edge]:
    async with make_edge(suite=suite_for(backends, analytics), keyring=keyring()) as built:
        yield built


async def get(edge: Edge, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    resp = await edge.client.get(path, params=params, headers=headers or AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


# ---- Timeseries -------------------------------------------------------------------------


async def test_timeseries_by_model_per_day(edge: Edge) -> None:
    body = await get(
        edge, "/v1/usage/timeseries", granularity="day", group_by="model,status",
        percentiles="50,99.5", **DAY,
    )  # fmt: skip
    assert (body["granularity"], body["group_by"], body["source"]) == (
        "day", ["model", "status"], "usage_route",
    )  # fmt: skip
    assert body["since"] == "2026-03-01T00:00:00Z"
    assert sum(s["total"]["requests"] for s in body["series"]) == len(EVENTS)
    groups = [s["group"] for s in body["series"]]
    assert {g["status"] for g in groups} == {"ok", "error", "cancelled"}
    point = body["series"][0]["points"][0]
    assert set(point["latency_ms"]) == {"p50", "p99.5"}
    assert point["start"].endswith("T00:00:00Z")
    unpriced = [s for s in body["series"] if s["group"]["model"] == "mistral/mystery-large"]
    assert all(s["total"]["unpriced_requests"] == s["total"]["requests"] for s in unpriced)


async def test_timeseries_filters_by_strategy_and_key(edge: Edge) -> None:
    body = await get(
        edge, "/v1/usage/timeseries", granularity="hour", group_by="key,strategy",
        key="key-b", strategy="free-first,cascade", **DAY,
    )  # fmt: skip
    groups = [s["group"] for s in body["series"]]
    assert groups
    assert {g["key"] for g in groups} == {"key-b"}
    assert {g["strategy"] for g in groups} <= {"free-first", "cascade"}
    assert body["source"] == "usage_events"  # by the hour: every dimension is in raw rows only


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"group_by": "model,colour"}, "group_by"),
        ({"granularity": "week"}, "granularity"),
        ({"status": "fine"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-01T00:00:00"}, "since"),  # no offset: ambiguous
        ({"until": "1e300"}, "until"),
        ({"percentiles": "50,abc"}, "percentiles"),
        ({"percentiles": "150"}, "percentiles"),  # analytics' own check, named here
        ({"granularity": "minute", "since": "2026-01-01T00:00:00Z"}, "since"),
        ({"max_series": "-1"}, "max_series"),
        ({"model": ",".join(f"m{i}" for i in range(101))}, "model"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    edge: Edge, params: dict[str, str], param: str
) -> None:
    resp = await edge.client.get("/v1/usage/timeseries", params=params, headers=AUTH)
    await assert_openai_error(resp, 400, param)


async def test_a_key_sees_only_its_own_usage(edge: Edge) -> None:
    body = await get(edge, "/v1/usage/timeseries", MEMBER, granularity="day", group_by="key", **DAY)
    assert [s["group"]["key"] for s in body["series"]] == ["key-a"]
    resp = await edge.client.get("/v1/usage/timeseries", params={"key": "key-b"}, headers=MEMBER)
    error = await assert_openai_error(resp, 403)
    assert "key-b" in error["message"]
    await assert_openai_error(await edge.client.get("/v1/usage/summary", headers=MEMBER), 403)
    await assert_openai_error(await edge.client.get("/v1/usage/timeseries"), 401)


async def test_summary(edge: Edge) -> None:
    body = await get(edge, "/v1/usage/summary", **DAY)
    assert body["total"]["requests"] == len(EVENTS)
    assert body["total"]["unpriced_requests"] == sum(1 for e in EVENTS if e.cost_usd is None)
    assert {m["model"] for m in body["models"]} >= {"groq/llama-3.1-8b-instant", "auto"}


# ---- Savings ----------------------------------------------------------------------------


async def test_savings_against_a_catalogue_model(edge: Edge) -> None:
    body = await get(edge, "/v1/usage/savings", baseline="openai/gpt-4o", requests=3, **DAY)
    assert body["baseline"] == {
        "source": "catalog", "model": "openai/gpt-4o", "price_source": "provider",
        "input_per_mtok": 2.5, "output_per_mtok": 10.0, "request_price": 0.0,
    }  # fmt: skip
    priced = [e for e in EVENTS if e.cost_usd is not None]
    expected = sum((e.prompt_tokens * 2.5 + e.completion_tokens * 10) / 1e6 for e in priced)
    assert body["total"]["baseline_cost_usd"] == pytest.approx(expected)
    assert body["total"]["unpriced_requests"] == len(EVENTS) - len(priced)
    assert len(body["requests"]) == 3
    for row in body["requests"]:
        assert (row["cost_usd"] is None) == (row["saving_usd"] is None)


async def test_savings_against_configured_prices_and_the_recorded_baseline(edge: Edge) -> None:
    priced = await get(
        edge, "/v1/usage/savings", input_per_mtok="1", output_per_mtok="2", group_by="provider",
        **DAY,
    )  # fmt: skip
    assert priced["baseline"]["source"] == "prices"
    assert {g["group"]["provider"] for g in priced["groups"]} >= {"groq", "openai"}
    recorded = await get(edge, "/v1/usage/savings", **DAY)
    assert recorded["baseline"] == {"source": "recorded"}
    assert recorded["total"]["no_baseline_requests"] > 0


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"baseline": "mistral/mystery-large"}, "baseline", "no known price"),
        ({"baseline": "nobody/none"}, "baseline", "no model 'nobody/none'"),
        ({"input_per_mtok": "1"}, "output_per_mtok", "required"),
        ({"baseline": "openai/gpt-4o", "input_per_mtok": "1"}, "baseline", "not both"),
        ({"input_per_mtok": "-1", "output_per_mtok": "1"}, "input_per_mtok", "price"),
        ({"requests": "5000"}, "requests", "at most 1000"),
    ],
)
async def test_bad_baselines_are_400(
    edge: Edge, params: dict[str, str], param: str, words: str
) -> None:
    resp = await edge.client.get("/v1/usage/savings", params=params, headers=AUTH)
    error = await assert_openai_error(resp, 400, param)
    assert words in error["message"]


# ---- Forecast ---------------------------------------------------------------------------


async def test_forecast_with_the_catalogues_free_quotas(edge: Edge) -> None:
    groq = next(m for m in edge.catalog.models if m.id == "groq/llama-3.1-8b-instant")
    groq.free_tier.requests_per_day = 14_400
    body = await get(edge, "/v1/usage/forecast", as_of="2026-03-02T00:00:00Z")
    assert body["quotas_from"] == "catalog"
    assert body["days_observed"] == 1
    assert body["confidence"] == 0
    midnight = NOW.replace(hour=0)
    assert body["requests"]["to_date"] == sum(1 for e in EVENTS if e.time and e.time < midnight)
    [quota] = body["quotas"]
    assert (quota["model"], quota["requests_per_day"], quota["tokens_per_day"]) == (
        "groq/llama-3.1-8b-instant", 14_400, None,
    )  # fmt: skip


async def test_forecast_without_the_catalogue_says_so(
    make_edge: EdgeFactory, backends: Backends, analytics: App
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    suite = suite_for(backends, analytics, catalog_addr=dead)
    async with make_edge(suite=suite, keyring=keyring(), rpc_timeout_s=1) as edge:
        body = await get(edge, "/v1/usage/forecast")
    assert body["quotas_from"].startswith("unavailable")
    assert body["quotas"] == []


# ---- Export -----------------------------------------------------------------------------


async def test_export_as_a_csv_download(edge: Edge) -> None:
    resp = await edge.client.get(
        "/v1/usage/export", params={"format": "csv", "status": "ok", **DAY}, headers=AUTH
    )
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="freeway-usage.csv"'
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["event_id"] for r in rows] == [e.event_id for e in EVENTS if e.status == "ok"]


async def test_export_json_lines_with_feedback(edge: Edge) -> None:
    sent = await edge.client.post(
        "/v1/feedback", json={"request_id": "req-7", "score": 0.25, "source": "judge"}, headers=AUTH
    )
    assert sent.status == 200
    resp = await edge.client.get(
        "/v1/usage/export", params={"include": "feedback,features", "limit": "10"}, headers=AUTH
    )
    assert resp.content_type == "application/x-ndjson"
    rows = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert len(rows) == 10
    assert [r["feedback_judge"] for r in rows if r["request_id"] == "req-7"] == [0.25]
    assert all("features" in r for r in rows)


@pytest.mark.parametrize(
    ("params", "param"), [({"format": "xml"}, "format"), ({"include": "secrets"}, "include")]
)
async def test_bad_export_parameters_are_400(
    edge: Edge, params: dict[str, str], param: str
) -> None:
    resp = await edge.client.get("/v1/usage/export", params=params, headers=AUTH)
    await assert_openai_error(resp, 400, param)


# ---- Feedback ---------------------------------------------------------------------------


async def test_feedback_from_the_application(edge: Edge) -> None:
    resp = await edge.client.post(
        "/v1/feedback", json={"request_id": "req-3", "thumbs": "up"}, headers=AUTH
    )
    assert resp.status == 200
    assert await resp.json() == {
        "request_id": "req-3", "event_id": "evt-000003", "score": 1.0,
        "source": "application", "replaced": False,
    }  # fmt: skip


async def test_a_key_scores_only_its_own_requests(edge: Edge) -> None:
    own = next(e for e in EVENTS if e.key_id == "key-a")
    other = next(e for e in EVENTS if e.key_id == "key-b")
    ok = await edge.client.post(
        "/v1/feedback", json={"request_id": own.request_id, "score": 1}, headers=MEMBER
    )
    assert ok.status == 200
    refused = await edge.client.post(
        "/v1/feedback", json={"request_id": other.request_id, "score": 1}, headers=MEMBER
    )
    await assert_openai_error(refused, 404, "request_id")  # as if it did not exist


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"score": 1}, "request_id", 400),
        ({"request_id": "req-1"}, "score", 400),
        ({"request_id": "req-1", "score": 1, "thumbs": "up"}, "score", 400),
        ({"request_id": "req-1", "score": 1.5}, "score", 400),
        ({"request_id": "req-1", "score": True}, "score", 400),
        ({"request_id": "req-1", "thumbs": "sideways"}, "thumbs", 400),
        ({"request_id": "req-1", "score": 1, "source": "crowd"}, "source", 400),
        ({"request_id": "req-999", "score": 1}, "request_id", 404),
        ([1, 2], None, 400),
    ],
)
async def test_bad_feedback(edge: Edge, body: object, param: str | None, status: int) -> None:
    resp = await edge.client.post("/v1/feedback", json=body, headers=AUTH)
    error = await assert_openai_error(resp, status, param)
    assert "Traceback" not in error["message"]


async def test_feedback_that_is_not_json_is_400(edge: Edge) -> None:
    resp = await edge.client.post("/v1/feedback", data=b"{nope", headers=AUTH)
    await assert_openai_error(resp, 400)


class BreakingAnalytics(analytics_pb2_grpc.AnalyticsServiceServicer):
    """Sends one chunk of an export, then fails: what analytics going away looks like."""

    async def Export(self, request: pb.ExportRequest, context: Any) -> AsyncIterator[Any]:
        yield pb.ExportChunk(data=b'{"event_id":"e1"}\n', rows=1)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "analytics went away")


async def test_an_export_cut_short_is_a_broken_download(
    make_edge: EdgeFactory, backends: Backends
) -> None:
    registration = Registration(
        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
        BreakingAnalytics(),  # type: ignore[abstract]  # the other RPCs: UNIMPLEMENTED
        "freeway.analytics.v1.AnalyticsService",
    )
    server = await start_server("breaking-analytics", "127.0.0.1:0", [registration])
    try:
        suite = backends.suite(analytics_addr=f"127.0.0.1:{server.port}")
        async with make_edge(suite=suite, keyring=keyring()) as edge:
            resp = await edge.client.get("/v1/usage/export", headers=AUTH)
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    finally:
        await server.stop(0)
