"""The query contract, run on both stores (real SQLite, real PostgreSQL): every answer
equals what the events themselves say (tests/integration/analytics/oracle.py), before the
roll-up worker has run (pending events), after it (rollups), and in between."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from services.analytics import queries, reports
from services.analytics.feedback import FeedbackSource, Thumb, feedback
from services.analytics.queries import Dimension, ExportFormat, Granularity
from services.analytics.store import UsageStore
from services.analytics.usage import Strategy, UsageEvent, UsageStatus
from services.shared.errors import NotFound
from tests.integration.analytics import oracle
from tests.integration.analytics.conftest import MAX_BATCH
from tests.integration.analytics.events import NOW, T0, event, mixed

EVENTS = mixed(300)  # 35 hours from T0, every kind of event
END = T0 + timedelta(days=2)  # 2,880 minutes: within the bucket limit
ROLLED = pytest.mark.parametrize("rolled", [False, True], ids=["pending", "rolled-up"])


def known(value: float | None) -> float:
    assert value is not None
    return value


async def store_all(store: UsageStore, events: Sequence[UsageEvent]) -> None:
    for start in range(0, len(events), MAX_BATCH):
        await store.store(events[start : start + MAX_BATCH])


@pytest.fixture
async def loaded(store: UsageStore) -> UsageStore:
    await store_all(store, EVENTS)
    return store


async def prepared(store: UsageStore, rolled: bool) -> UsageStore:
    if rolled:
        assert await store.roll_up_all() == len(EVENTS)
        assert await store.pending() == 0
    return store


def series_query(
    grain: Granularity, dims: Sequence[Dimension] = (), **kwargs: object
) -> queries.Timeseries:
    return queries.timeseries(
        since=T0,
        until=END,
        granularity=grain,
        now=NOW,
        group_by_=dims,
        **kwargs,  # type: ignore[arg-type]
    )


GROUPINGS = [
    (),
    (Dimension.MODEL,),
    (Dimension.PROVIDER, Dimension.STATUS),
    (Dimension.KEY, Dimension.TEAM),
    (Dimension.STRATEGY,),
    (Dimension.KEY, Dimension.MODEL),  # the full rollup by the day, raw rows otherwise
]


@ROLLED
@pytest.mark.parametrize("grain", list(Granularity))
@pytest.mark.parametrize("dims", GROUPINGS, ids=lambda d: "+".join(d) or "total")
async def test_timeseries_equals_the_events(
    loaded: UsageStore, rolled: bool, grain: Granularity, dims: tuple[Dimension, ...]
) -> None:
    store = await prepared(loaded, rolled)
    result = await reports.timeseries(store, series_query(grain, dims, max_series=1000))
    expected = {
        (group, oracle.bucket(when, grain.step)): oracle.metrics(events)
        for group, in_group in oracle.grouped(EVENTS, dims).items()
        for when, events in _by_bucket(in_group, grain.step).items()
    }
    got = {(s.group, when): m for s in result.series for when, m in s.points}
    assert got.keys() == expected.keys()
    assert all(oracle.same(got[k], expected[k]) for k in expected)
    assert result.omitted == 0


def _by_bucket(events: list[UsageEvent], step: timedelta) -> dict[datetime, list[UsageEvent]]:
    out: dict[datetime, list[UsageEvent]] = {}
    for e in events:
        assert e.time is not None
        out.setdefault(oracle.bucket(e.time, step), []).append(e)
    return out


async def test_the_source_is_the_smallest_rollup_that_holds_the_question(
    loaded: UsageStore,
) -> None:
    async def source(grain: Granularity, dims: Sequence[Dimension], **kw: object) -> str:
        return (await reports.timeseries(loaded, series_query(grain, dims, **kw))).source

    assert await source(Granularity.HOUR, ()) == "usage_total"
    assert await source(Granularity.HOUR, (Dimension.MODEL,)) == "usage_route"
    assert await source(Granularity.DAY, (Dimension.TEAM,)) == "usage_caller"
    assert await source(Granularity.DAY, (Dimension.KEY, Dimension.MODEL)) == "usage_full"
    assert await source(Granularity.HOUR, (Dimension.KEY, Dimension.MODEL)) == "usage_events"
    assert await source(Granularity.MINUTE, (Dimension.KEY,)) == "usage_caller"
    # A filter counts like a grouping: the rollup must hold the filtered dimension.
    only_key_a = queries.usage_filter(key_ids=["key-a"])
    assert await source(Granularity.DAY, (Dimension.MODEL,), filter_=only_key_a) == "usage_full"
    assert await source(Granularity.HOUR, (Dimension.MODEL,), filter_=only_key_a) == (
        "usage_events"
    )


@ROLLED
async def test_filters_keep_only_matching_events(loaded: UsageStore, rolled: bool) -> None:
    store = await prepared(loaded, rolled)
    wanted = queries.usage_filter(
        models=["openai/gpt-4o-mini", "auto"],
        statuses=[UsageStatus.ERROR, UsageStatus.OK],
        strategies=[Strategy.FREE_FIRST, Strategy.CASCADE],
    )
    result = await reports.timeseries(store, series_query(Granularity.DAY, filter_=wanted))
    kept = [
        e
        for e in EVENTS
        if (e.served_model or e.requested_model) in wanted.models
        and e.status in wanted.statuses
        and e.strategy in wanted.strategies
    ]
    assert kept
    [series] = result.series
    assert oracle.same(series.total, oracle.metrics(kept))


async def test_busiest_series_first_and_the_rest_counted(loaded: UsageStore) -> None:
    result = await reports.timeseries(
        loaded, series_query(Granularity.DAY, (Dimension.MODEL,), max_series=2)
    )
    counts = sorted(
        ((len(v), k) for k, v in oracle.grouped(EVENTS, ["model"]).items()), reverse=True
    )
    assert [s.total.requests for s in result.series] == [c for c, _ in counts[:2]]
    assert result.omitted == len(counts) - 2


async def test_percentiles_are_the_histograms(loaded: UsageStore) -> None:
    result = await reports.timeseries(loaded, series_query(Granularity.DAY, percentiles=[50, 99.9]))
    whole = oracle.metrics(EVENTS)
    total = next(s.total for s in result.series)
    assert total.latency_ms((50, 99.9)) == whole.latency_ms((50, 99.9))
    assert total.ttft_requests == sum(1 for e in EVENTS if e.ttft_ms > 0)


@ROLLED
@pytest.mark.parametrize(
    ("since", "until"),
    [
        (T0 + timedelta(minutes=13, seconds=20), T0 + timedelta(hours=29, minutes=1, seconds=5)),
        (T0 + timedelta(hours=3), T0 + timedelta(hours=3, minutes=59)),
        (T0 - timedelta(days=2), T0 + timedelta(days=5)),
        (T0 + timedelta(seconds=30), T0 + timedelta(seconds=40)),
    ],
)
async def test_any_range_is_exact(
    loaded: UsageStore, rolled: bool, since: datetime, until: datetime
) -> None:
    store = await prepared(loaded, rolled)
    start, end, by_model = await reports.over_range(
        store, since, until, (Dimension.MODEL,), queries.UsageFilter()
    )
    assert (start, end) == (since, until)
    inside = [e for e in EVENTS if e.time is not None and since <= e.time < until]
    expected = {k: oracle.metrics(v) for k, v in oracle.grouped(inside, ["model"]).items()}
    assert by_model.keys() == expected.keys()
    assert all(oracle.same(by_model[k], expected[k]) for k in expected)


async def test_rollups_while_ingesting_never_count_twice(store: UsageStore) -> None:
    async def ingest() -> None:
        await store_all(store, EVENTS)

    async def roll() -> None:
        for _ in range(20):
            await store.roll_up(limit=37)
            await asyncio.sleep(0)

    await asyncio.gather(ingest(), roll(), roll())
    await store.roll_up_all()
    summary = await reports.summary(store, T0, END)
    assert summary.total.requests == len(EVENTS)
    assert oracle.same(
        (await reports.over_range(store, T0, END, (), queries.UsageFilter()))[2][()],
        oracle.metrics(EVENTS),
    )


async def test_a_replay_after_the_roll_up_changes_nothing(loaded: UsageStore) -> None:
    await loaded.roll_up_all()
    before = await reports.timeseries(loaded, series_query(Granularity.HOUR, (Dimension.MODEL,)))
    await store_all(loaded, EVENTS)
    assert await loaded.pending() == 0
    after = await reports.timeseries(loaded, series_query(Granularity.HOUR, (Dimension.MODEL,)))
    assert after == before


# ---- Savings ----------------------------------------------------------------------------


@ROLLED
async def test_recorded_savings_count_unpriced_and_unbaselined_apart(
    loaded: UsageStore, rolled: bool
) -> None:
    store = await prepared(loaded, rolled)
    q = queries.savings(since=T0, until=END, now=NOW, group_by_=[Dimension.MODEL])
    result = await reports.savings_report(store, q)
    both = [e for e in EVENTS if e.cost_usd is not None and e.baseline_cost_usd is not None]
    unpriced = [e for e in EVENTS if e.cost_usd is None]
    t = result.total
    assert result.baseline == "recorded"
    assert t.requests == len(EVENTS)
    assert t.priced_requests == len(both)
    assert t.unpriced_requests == len(unpriced) > 0
    assert t.unpriced_prompt_tokens == sum(e.prompt_tokens for e in unpriced)
    assert t.no_baseline_requests == sum(
        1 for e in EVENTS if e.cost_usd is not None and e.baseline_cost_usd is None
    )
    assert t.saving_usd == pytest.approx(
        sum(known(e.baseline_cost_usd) - known(e.cost_usd) for e in both)
    )
    assert t.cost_usd == pytest.approx(sum(known(e.cost_usd) for e in both))
    groups = dict(result.groups)
    assert groups[("mistral/mystery-large",)].priced_requests == 0
    assert groups[("mistral/mystery-large",)].saving_usd == 0
    assert [g.saving_usd for _, g in result.groups] == sorted(
        (g.saving_usd for _, g in result.groups), reverse=True
    )


@ROLLED
async def test_savings_against_given_prices(loaded: UsageStore, rolled: bool) -> None:
    store = await prepared(loaded, rolled)
    gpt4o = queries.baseline("openai/gpt-4o", 2.5, 10.0, 0.001)
    q = queries.savings(since=T0, until=END, now=NOW, baseline_=gpt4o, request_limit=5)
    result = await reports.savings_report(store, q)
    priced = [e for e in EVENTS if e.cost_usd is not None]
    baseline = sum(
        (e.prompt_tokens * 2.5 + e.completion_tokens * 10.0) / 1e6 + 0.001 for e in priced
    )
    assert result.baseline == "openai/gpt-4o"
    assert result.total.priced_requests == len(priced)
    assert result.total.baseline_cost_usd == pytest.approx(baseline)
    assert result.total.saving_usd == pytest.approx(
        baseline - sum(known(e.cost_usd) for e in priced)
    )
    assert result.total.no_baseline_requests == 0
    newest = sorted(EVENTS, key=lambda e: (e.time, e.event_id), reverse=True)[:5]
    assert [r.event_id for r in result.requests] == [e.event_id for e in newest]
    for row, e in zip(result.requests, newest, strict=True):
        expected = (e.prompt_tokens * 2.5 + e.completion_tokens * 10.0) / 1e6 + 0.001
        assert row.baseline_cost_usd == pytest.approx(expected)
        assert row.cost_usd == e.cost_usd
        assert row.saving_usd == (
            None if e.cost_usd is None else pytest.approx(expected - e.cost_usd)
        )


# ---- Forecast ---------------------------------------------------------------------------


def _daily(days: int, per_day: int, as_of: datetime) -> list[UsageEvent]:
    """`per_day` paid events a day on each of the `days` days before `as_of`'s day, and
    as many (pro rata) today, each costing $0.01 and saving $0.02."""
    today = oracle.bucket(as_of, timedelta(days=1))
    out: list[UsageEvent] = []
    for d in range(days, -1, -1):
        day = today - timedelta(days=d)
        count = per_day if d else int(per_day * (as_of - today) / timedelta(days=1))
        for i in range(count):
            out.append(
                event(
                    len(out),
                    time=day + timedelta(days=1) * i / per_day,
                    served_model="groq/llama-3.1-8b-instant",
                    cost_usd=0.01,
                    baseline_cost_usd=0.03,
                    prompt_tokens=100,
                    completion_tokens=50,
                )
            )
    return out


async def test_a_steady_month_projects_straight_with_no_spread(store: UsageStore) -> None:
    as_of = datetime.fromisoformat("2026-03-20T12:00:00+00:00")
    await store_all(store, _daily(10, 24, as_of))
    q = queries.forecast(as_of=as_of, now=as_of, lookback_days=7)
    result = await reports.forecast_report(store, q)
    assert result.days_observed == 7
    assert "least-squares" in result.method
    assert "90%" in result.method
    # 10 whole days and half of today so far; 11.5 days to go at 24 a day.
    month_end = 10 * 24 + 12 + 11.5 * 24
    assert result.requests.to_date == 10 * 24 + 12
    assert result.requests.month_end == pytest.approx(month_end)
    assert result.requests.low == pytest.approx(month_end)
    assert result.requests.high == pytest.approx(month_end)
    assert result.cost_usd.month_end == pytest.approx(month_end * 0.01)
    assert result.saving_usd.month_end == pytest.approx(month_end * 0.02)
    assert result.cost_usd.per_day == pytest.approx(0.24)
    assert result.tokens.month_end == pytest.approx(month_end * 150)


async def test_a_noisy_history_gives_an_interval_around_the_trend(store: UsageStore) -> None:
    as_of = datetime.fromisoformat("2026-03-10T00:00:00+00:00")
    events: list[UsageEvent] = []
    for d, count in enumerate([10, 30, 12, 28, 14, 26, 16]):  # rising on average, noisily
        day = as_of - timedelta(days=7 - d)
        events += [
            event(len(events) + i, time=day + timedelta(minutes=i), cost_usd=0.5)
            for i in range(count)
        ]
    await store_all(store, events)
    result = await reports.forecast_report(
        store, queries.forecast(as_of=as_of, now=as_of, lookback_days=14)
    )
    assert result.days_observed == 7
    assert result.confidence == 0.9
    r = result.requests
    assert r.to_date == 136
    assert r.low < r.month_end < r.high
    assert r.low >= r.to_date
    assert r.per_day > 136 / 7  # the trend rises


async def test_no_history_means_no_projection(store: UsageStore) -> None:
    as_of = datetime.fromisoformat("2026-03-10T06:00:00+00:00")
    result = await reports.forecast_report(store, queries.forecast(as_of=as_of, now=as_of))
    assert result.days_observed == 0
    assert result.confidence == 0.0
    assert result.cost_usd.month_end == 0
    assert "no complete UTC day" in result.method


async def test_free_quota_burn_down(store: UsageStore) -> None:
    as_of = datetime.fromisoformat("2026-03-20T12:00:00+00:00")
    await store_all(store, _daily(3, 24, as_of))
    quotas = [
        queries.Quota("groq/llama-3.1-8b-instant", requests_per_day=20, tokens_per_day=0),
        queries.Quota("cerebras/llama3.1-8b", requests_per_day=100),
    ]
    q = queries.forecast(as_of=as_of, now=as_of, quotas=quotas)
    [groq] = (await reports.forecast_report(store, q)).quotas  # cerebras saw no use
    assert groq.use.requests_today == 12
    # The last 3 hours ran at 1 request an hour; 12 hours left: 24 by midnight.
    assert groq.use.projected_requests == pytest.approx(24)
    assert groq.requests_fraction == pytest.approx(24 / 20)
    assert groq.use.exhausted_at == as_of + timedelta(hours=8)
    assert groq.tokens_fraction == 0
    assert groq.month_requests.to_date == 3 * 24 + 12


# ---- Export -----------------------------------------------------------------------------


def _export_query(**kwargs: object) -> queries.Export:
    return queries.export(since=T0, until=END, now=NOW, **kwargs)  # type: ignore[arg-type]


async def _exported(store: UsageStore, q: queries.Export, page: int = 7) -> bytes:
    return b"".join([data async for data, _ in reports.export(store, q, page=page)])


async def test_jsonl_export_is_every_row_in_time_order(loaded: UsageStore) -> None:
    lines = (await _exported(loaded, _export_query())).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    ordered = sorted(EVENTS, key=lambda e: (e.time, e.event_id))
    assert [r["event_id"] for r in rows] == [e.event_id for e in ordered]
    first, e = rows[0], ordered[0]
    assert first["cost_usd"] == e.cost_usd
    unpriced = next(r for r in rows if r["served_model"] == "mistral/mystery-large")
    assert unpriced["cost_usd"] is None
    assert unpriced["saving_usd"] is None
    assert "features" not in first
    assert "feedback_judge" not in first


async def test_csv_export_with_filters_and_limit(loaded: UsageStore) -> None:
    wanted = queries.usage_filter(key_ids=["key-c"], statuses=[UsageStatus.OK])
    q = _export_query(filter_=wanted, format_=ExportFormat.CSV, limit=10)
    text = (await _exported(loaded, q)).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = [e for e in EVENTS if e.key_id == "key-c" and e.status is UsageStatus.OK][:10]
    assert [r["event_id"] for r in rows] == [e.event_id for e in expected]
    assert text.startswith("time,event_id,request_id,")
    assert {r["status"] for r in rows} == {"ok"}
    assert all(r["cost_usd"] == "" for r in rows if r["provider"] == "mistral")


async def test_an_empty_csv_export_still_has_its_header(loaded: UsageStore) -> None:
    q = _export_query(format_=ExportFormat.CSV, filter_=queries.usage_filter(key_ids=["nobody"]))
    assert (await _exported(loaded, q)).decode().splitlines() == [",".join(reports_header(q))]


def reports_header(q: queries.Export) -> list[str]:
    from services.analytics.export import header

    return header(q)


async def test_export_carries_feedback_and_features(store: UsageStore) -> None:
    vector = struct.pack("<4d", 0.25, 1.0, -2.0, 1e-3)
    await store.store([event(1, features=vector, capabilities=("tools",)), event(2)])
    await store.record_feedback(
        feedback("req-1", score=0.75, thumb=None, source=FeedbackSource.JUDGE)
    )
    await store.record_feedback(
        feedback("req-1", score=None, thumb=Thumb.DOWN, source=FeedbackSource.APPLICATION)
    )
    q = _export_query(include_feedback=True, include_features=True)
    rows = [json.loads(line) for line in (await _exported(store, q)).decode().splitlines()]
    assert rows[0]["features"] == [0.25, 1.0, -2.0, 1e-3]
    assert (rows[0]["feedback_judge"], rows[0]["feedback_application"]) == (0.75, 0.0)
    assert rows[0]["capabilities"] == ["tools"]
    assert (rows[1]["features"], rows[1]["feedback_judge"]) == (None, None)
    csv_rows = list(
        csv.DictReader(io.StringIO((await _exported(store, _export_query(
            include_features=True, format_=ExportFormat.CSV))).decode()))
    )  # fmt: skip
    assert csv_rows[0]["features"] == "0.25 1.0 -2.0 0.001"


# ---- Feedback ---------------------------------------------------------------------------


async def test_feedback_is_stored_with_its_request_and_replaced_per_source(
    store: UsageStore,
) -> None:
    await store.store([event(1, key_id="key-a")])
    first = await store.record_feedback(
        feedback("req-1", score=0.2, thumb=None, source=FeedbackSource.APPLICATION)
    )
    assert (first.event_id, first.replaced) == ("evt-000001", False)
    again = await store.record_feedback(
        feedback("req-1", score=None, thumb=Thumb.UP, source=FeedbackSource.APPLICATION)
    )
    assert (again.replaced, again.feedback.score) == (True, 1.0)
    scoped = await store.record_feedback(
        feedback("req-1", score=0.5, thumb=None, source=FeedbackSource.JUDGE, key_id="key-a")
    )
    assert not scoped.replaced
    rows = await store.db.fetch("SELECT source, score FROM usage_feedback ORDER BY source")
    assert [(r["source"], r["score"]) for r in rows] == [("application", 1.0), ("judge", 0.5)]


@pytest.mark.parametrize(
    "offset",
    [timedelta(0), timedelta(hours=-47), timedelta(days=-30), timedelta(days=-400),
     timedelta(minutes=70), timedelta(days=3)],
    ids=["now", "47h-ago", "30d-ago", "400d-ago", "next-hour", "3d-ahead"],
)  # fmt: skip
async def test_feedback_finds_its_request_in_whatever_hour_it_was_stored(
    store: UsageStore, offset: timedelta
) -> None:
    """PostgreSQL finds requests through an index led by the hour (recent hours first):
    none may be missed, however far from now the event's time is."""
    now = store.now()
    await store.store([event(100 + h, request_id=f"other-{h}", time=now - timedelta(hours=h))
                       for h in range(1, 80, 7)])  # fmt: skip
    await store.store([event(1, request_id="req-far", time=now + offset)])
    recorded = await store.record_feedback(
        feedback("req-far", score=0.9, thumb=None, source=FeedbackSource.APPLICATION)
    )
    assert recorded.event_id == "evt-000001"


async def test_feedback_goes_with_the_newest_event_of_its_request(store: UsageStore) -> None:
    await store.store([
        event(1, request_id="req-twice", time=NOW - timedelta(days=9)),
        event(2, request_id="req-twice", time=NOW - timedelta(days=3)),
        event(3, request_id="req-twice", time=NOW - timedelta(days=5)),
    ])  # fmt: skip
    recorded = await store.record_feedback(
        feedback("req-twice", score=0.1, thumb=None, source=FeedbackSource.JUDGE)
    )
    assert recorded.event_id == "evt-000002"


@pytest.mark.parametrize(("request_id", "key_id"), [("req-404", ""), ("req-1", "key-other")])
async def test_feedback_for_an_unknown_request_is_not_found(
    store: UsageStore, request_id: str, key_id: str
) -> None:
    await store.store([event(1, key_id="key-a")])
    with pytest.raises(NotFound, match=r"^request_id: no usage recorded for request"):
        await store.record_feedback(
            feedback(request_id, score=1.0, thumb=None, source=FeedbackSource.JUDGE, key_id=key_id)
        )
