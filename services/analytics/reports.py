"""The usage queries, answered from the store's reads: Summary, Timeseries, Savings,
Forecast and Export. No SQL here: the store reads metrics per (bucket, group) from the
right rollup; this module decides which ranges to read and puts the answers together."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.analytics import forecast as trend
from services.analytics import queries, savings
from services.analytics.export import Encoder
from services.analytics.metrics import Metrics, total
from services.analytics.queries import Dimension, Granularity, UsageFilter
from services.analytics.ranges import split, widen
from services.analytics.store import UsageStore
from services.analytics.usage import ModelTotals, Summary, time_range

Group = tuple[str, ...]  # values of the dimensions grouped by, in their order
EXPORT_PAGE = 1000
EXPORT_PAGE_WITH_FEATURES = 100  # feature vectors make rows up to ~20 KB of JSON


async def over_range(
    store: UsageStore,
    start: datetime,
    end: datetime,
    group: tuple[Dimension, ...],
    wanted: UsageFilter,
) -> tuple[datetime, datetime, dict[Group, Metrics]]:
    """Metrics per group over [start, end), exact to the microsecond where the data is
    still kept (else widened: the range actually covered is returned with them)."""
    dims = set(group) | set(wanted.by_dimension())
    start, end = widen(start, end, store.horizons(dims))
    merged: dict[Group, Metrics] = {}
    for piece in split(start, end):
        for row in await store.read(piece.level, piece.start, piece.end, group, wanted):
            merged.setdefault(row.group, Metrics()).add(row.metrics)
    return start, end, merged


# ---- Summary ----------------------------------------------------------------------------


async def summary(
    store: UsageStore, since: datetime | None = None, until: datetime | None = None
) -> Summary:
    """Totals per served model over [since, until), plus the overall total."""
    start, end = time_range(since, until)
    group = (Dimension.MODEL, Dimension.PROVIDER)
    _, _, by_model = await over_range(store, start, end, group, UsageFilter())
    return Summary.of(_model_totals(key, m) for key, m in sorted(by_model.items()))


def _model_totals(key: Group, m: Metrics) -> ModelTotals:
    model, provider = key
    return ModelTotals(
        model=model,
        provider=provider,
        requests=m.requests,
        errors=m.errors,
        prompt_tokens=m.prompt_tokens,
        completion_tokens=m.completion_tokens,
        cost_usd=m.cost_usd,
        baseline_cost_usd=m.baseline_cost_usd,
        savings_usd=m.saving_usd,
        unpriced_requests=m.unpriced_requests,
    )


# ---- Timeseries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    group: Group
    total: Metrics
    points: list[tuple[datetime, Metrics]]


@dataclass(frozen=True)
class TimeseriesResult:
    query: queries.Timeseries
    series: list[Series]
    omitted: int
    source: str  # the table read
    retained_since: datetime


async def timeseries(store: UsageStore, q: queries.Timeseries) -> TimeseriesResult:
    dims = set(q.group_by) | set(q.filter.by_dimension())
    rows = await store.read(q.granularity, q.since, q.until, q.group_by, q.filter, q.granularity)
    points: dict[Group, list[tuple[datetime, Metrics]]] = {}
    for row in rows:
        assert row.bucket is not None
        points.setdefault(row.group, []).append((row.bucket, row.metrics))
    every = sorted(
        (
            Series(g, total([m for _, m in p]), sorted(p, key=lambda x: x[0]))
            for g, p in points.items()
        ),
        key=lambda s: (-s.total.requests, s.group),
    )
    kept: list[Series] = []
    budget = queries.MAX_POINTS
    for series in every[: q.max_series]:
        if len(series.points) > budget:
            break
        kept.append(series)
        budget -= len(series.points)
    cube = store.source(dims, q.granularity)
    return TimeseriesResult(
        q,
        kept,
        len(every) - len(kept),
        cube.table if cube else "usage_events",
        store.horizons(dims)[q.granularity],
    )


# ---- Savings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SavingsResult:
    since: datetime
    until: datetime
    baseline: str
    total: savings.SavingsTotals
    groups: list[tuple[Group, savings.SavingsTotals]]
    requests: list[savings.RequestSaving] = field(default_factory=list)


async def savings_report(store: UsageStore, q: queries.Savings) -> SavingsResult:
    start, end, by_group = await over_range(store, q.since, q.until, q.group_by, q.filter)
    whole = total(list(by_group.values()))
    groups = sorted(
        ((g, savings.totals(m, q.baseline)) for g, m in by_group.items()),
        key=lambda item: (-item[1].saving_usd, item[0]),
    )[: queries.MAX_SERIES]
    requests = []
    if q.request_limit:
        rows = await store.request_savings(start, end, q.filter, q.request_limit)
        requests = [savings.request_saving(r, q.baseline) for r in rows]
    name = savings.RECORDED if q.baseline is None else (q.baseline.model or "prices")
    return SavingsResult(
        start,
        end,
        name,
        savings.totals(whole, q.baseline),
        groups if q.group_by else [],
        requests,
    )


# ---- Forecast ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaForecast:
    quota: queries.Quota
    use: trend.QuotaUse
    month_requests: trend.Projection

    @property
    def requests_fraction(self) -> float:
        limit = self.quota.requests_per_day
        return self.use.projected_requests / limit if limit else 0.0

    @property
    def tokens_fraction(self) -> float:
        limit = self.quota.tokens_per_day
        return self.use.projected_tokens / limit if limit else 0.0


@dataclass(frozen=True)
class ForecastResult:
    horizon: trend.Horizon
    method: str
    lookback_days: int
    days_observed: int
    confidence: float
    cost_usd: trend.Projection
    saving_usd: trend.Projection
    requests: trend.Projection
    tokens: trend.Projection
    unpriced_requests: int
    quotas: list[QuotaForecast]


def _tokens(m: Metrics) -> float:
    return float(m.prompt_tokens + m.completion_tokens)


async def forecast_report(store: UsageStore, q: queries.Forecast) -> ForecastResult:
    horizon = trend.Horizon.at(q.as_of)
    days = [horizon.today - timedelta(days=q.lookback_days - i) for i in range(q.lookback_days)]
    by_day = await _daily(store, days[0], horizon.today, (), q.filter)
    _, _, month = await over_range(store, horizon.month_start, q.as_of, (), q.filter)
    to_date = month.get((), Metrics())
    daily = [by_day.get((d, ()), Metrics()) for d in days]
    first = next((i for i, m in enumerate(daily) if m.requests), len(daily))
    seen = daily[first:]

    def projection(read: Callable[[Metrics], float], nonnegative: bool = True) -> trend.Projection:
        series = [read(m) for m in seen]
        return trend.project(series, read(to_date), horizon, nonnegative=nonnegative)

    return ForecastResult(
        horizon,
        trend.method(len(seen), q.lookback_days),
        q.lookback_days,
        len(seen),
        trend.confidence(len(seen)),
        projection(lambda m: m.cost_usd),
        projection(lambda m: m.saving_usd, nonnegative=False),
        projection(lambda m: float(m.requests)),
        projection(_tokens),
        to_date.unpriced_requests,
        await _quotas(store, q, horizon, days, first) if q.quotas else [],
    )


async def _daily(
    store: UsageStore,
    start: datetime,
    end: datetime,
    group: tuple[Dimension, ...],
    wanted: UsageFilter,
) -> dict[tuple[datetime, Group], Metrics]:
    rows = await store.read(Granularity.DAY, start, end, group, wanted, Granularity.DAY)
    return {(r.bucket, r.group): r.metrics for r in rows if r.bucket is not None}


async def _quotas(
    store: UsageStore,
    q: queries.Forecast,
    horizon: trend.Horizon,
    days: list[datetime],
    first: int,
) -> list[QuotaForecast]:
    asked = q.filter.models
    models = tuple(x.model for x in q.quotas if not asked or x.model in asked)
    if not models:
        return []  # a model filter left none of the quotas asked about
    wanted = dataclasses.replace(q.filter, models=models)
    group = (Dimension.MODEL,)
    _, _, today = await over_range(store, horizon.today, q.as_of, group, wanted)
    recent_start = q.as_of - trend.QUOTA_RATE_WINDOW
    _, _, recent = await over_range(store, recent_start, q.as_of, group, wanted)
    _, _, month = await over_range(store, horizon.month_start, q.as_of, group, wanted)
    by_day = await _daily(store, days[0], horizon.today, group, wanted)
    out = []
    for quota in q.quotas:
        if quota.model not in models:
            continue
        key = (quota.model,)
        now, last = today.get(key, Metrics()), recent.get(key, Metrics())
        if not (now.requests or last.requests or month.get(key)):
            continue  # unused this month: nothing to forecast
        use = trend.quota_use(
            now.requests, int(_tokens(now)), last.requests, int(_tokens(last)), horizon,
            quota.requests_per_day, quota.tokens_per_day,
        )  # fmt: skip
        daily = [float(by_day.get((d, key), Metrics()).requests) for d in days[first:]]
        to_date = float(month.get(key, Metrics()).requests)
        out.append(QuotaForecast(quota, use, trend.project(daily, to_date, horizon)))
    return out


# ---- Export -----------------------------------------------------------------------------


async def export(
    store: UsageStore, q: queries.Export, page: int = 0
) -> AsyncIterator[tuple[bytes, int]]:
    """(bytes, rows) chunks of whole lines, oldest row first, `page` rows at a time."""
    encoder = Encoder(q)
    page = page or (EXPORT_PAGE_WITH_FEATURES if q.include_features else EXPORT_PAGE)
    after: tuple[datetime, str] | None = None
    sent = 0
    while not q.limit or sent < q.limit:
        size = page if not q.limit else min(page, q.limit - sent)
        rows = await store.export_page(q.since, q.until, q.filter, after, size, q.include_feedback)
        if rows:
            yield encoder.encode(rows), len(rows)
            sent += len(rows)
            last = rows[-1][0]
            assert last.time is not None
            after = (last.time, last.event_id)
        if len(rows) < size:
            break
    tail = encoder.finish()
    if tail:
        yield tail, 0
