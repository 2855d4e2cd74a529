"""Proto ↔ domain for the AnalyticsService: the one codec at this service's boundary.

Names of enum values come from the generated enums themselves (`STRATEGY_FREE_FIRST` →
"free-first", `CAPABILITY_TOOLS` → "tools"), so a value added to a proto is known here
after `make gen`. Values this server does not know are refused, naming the field, rather
than stored as something else.

An Ingest batch is read column by column (`UsageBatch`): field access on protobuf
messages is the costliest part of ingest in Python, so each field is read once per event
with `operator.attrgetter`, and presence is asked only where a value could be unset.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp

from freeway.analytics.v1 import analytics_pb2 as pb
from freeway.common.v1 import common_pb2
from services.analytics import queries, reports
from services.analytics.feedback import Feedback, FeedbackSource, Recorded, Thumb, feedback
from services.analytics.forecast import Projection
from services.analytics.ingest import Batch
from services.analytics.live import LiveAggregate, LiveSnapshot
from services.analytics.metrics import Metrics
from services.analytics.queries import EPOCH, Dimension, ExportFormat, Granularity
from services.analytics.savings import RequestSaving, SavingsTotals
from services.analytics.usage import (
    FIELDS,
    ModelTotals,
    Strategy,
    Summary,
    UsageBatch,
    UsageEvent,
    UsageStatus,
)
from services.shared.errors import InvalidArgument

V = TypeVar("V")

MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z, the Timestamp's own range
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z


def names(enum: EnumTypeWrapper, prefix: str) -> dict[int, str]:
    """Proto enum numbers → API names, from the enum itself: STRATEGY_FREE_FIRST → "free-first"."""
    return {
        number: name.removeprefix(prefix).lower().replace("_", "-")
        for name, number in enum.items()
        if number
    }


_STATUS: dict[int, UsageStatus] = {0: UsageStatus.UNSPECIFIED} | {
    n: UsageStatus(v) for n, v in names(pb.UsageStatus, "USAGE_STATUS_").items()
}
_STRATEGY: dict[int, Strategy] = {0: Strategy.UNSPECIFIED} | {
    n: Strategy(v) for n, v in names(common_pb2.Strategy, "STRATEGY_").items()
}
CAPABILITY = names(common_pb2.Capability, "CAPABILITY_")
_STATUS_NUMBER = {v: k for k, v in _STATUS.items()}
_STRATEGY_NUMBER = {v: k for k, v in _STRATEGY.items()}
_DIMENSION: dict[pb.UsageDimension, Dimension] = {
    pb.USAGE_DIMENSION_MODEL: Dimension.MODEL,
    pb.USAGE_DIMENSION_PROVIDER: Dimension.PROVIDER,
    pb.USAGE_DIMENSION_KEY: Dimension.KEY,
    pb.USAGE_DIMENSION_TEAM: Dimension.TEAM,
    pb.USAGE_DIMENSION_STRATEGY: Dimension.STRATEGY,
    pb.USAGE_DIMENSION_STATUS: Dimension.STATUS,
}
_DIMENSION_NUMBER = {v: k for k, v in _DIMENSION.items()}
_GRANULARITY: dict[int, Granularity] = {
    pb.GRANULARITY_UNSPECIFIED: Granularity.HOUR,
    pb.GRANULARITY_MINUTE: Granularity.MINUTE,
    pb.GRANULARITY_HOUR: Granularity.HOUR,
    pb.GRANULARITY_DAY: Granularity.DAY,
}
_GRANULARITY_NUMBER = {
    Granularity.MINUTE: pb.GRANULARITY_MINUTE,
    Granularity.HOUR: pb.GRANULARITY_HOUR,
    Granularity.DAY: pb.GRANULARITY_DAY,
}
_FORMAT: dict[int, ExportFormat] = {
    pb.EXPORT_FORMAT_UNSPECIFIED: ExportFormat.JSONL,
    pb.EXPORT_FORMAT_JSONL: ExportFormat.JSONL,
    pb.EXPORT_FORMAT_CSV: ExportFormat.CSV,
}
_SOURCE: dict[pb.FeedbackSource, FeedbackSource] = {
    pb.FEEDBACK_SOURCE_APPLICATION: FeedbackSource.APPLICATION,
    pb.FEEDBACK_SOURCE_JUDGE: FeedbackSource.JUDGE,
}
_SOURCE_NUMBER = {v: k for k, v in _SOURCE.items()}
_THUMB: dict[int, Thumb] = {pb.THUMB_UP: Thumb.UP, pb.THUMB_DOWN: Thumb.DOWN}


def known(table: Mapping[Any, V], value: int, field: str) -> V:
    try:
        return table[value]
    except KeyError:
        raise InvalidArgument(f"unknown value {value}", field=field) from None


def time(stamp: Timestamp, field: str) -> datetime:
    if not (MIN_SECONDS <= stamp.seconds <= MAX_SECONDS and 0 <= stamp.nanos < 1_000_000_000):
        raise InvalidArgument(
            f"not a valid timestamp (seconds {stamp.seconds}, nanos {stamp.nanos})", field=field
        )
    return EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def optional_time(message: Any, name: str, field: str | None = None) -> datetime | None:
    return time(getattr(message, name), field or name) if message.HasField(name) else None


def timestamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


# ---- Ingest -----------------------------------------------------------------------------

_PLAIN = (
    "event_id", "key_id", "team_id", "request_id", "requested_model", "served_model",
    "provider", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens",
    "cost_usd", "baseline_cost_usd", "latency_ms", "ttft_ms", "attempts", "cache_hit",
    "status", "complexity", "strategy", "error", "stream", "escalations",
    "escalation_reason", "features",
)  # fmt: skip
_READ_PLAIN = operator.attrgetter(*_PLAIN)
_READ_TIME = operator.attrgetter("seconds", "nanos")


def usage_batch(request: pb.IngestRequest) -> Batch:
    """One Ingest batch as (sequence, domain batch)."""
    return request.sequence, batch_of(request.events)


def batch_of(events: Sequence[pb.UsageEvent]) -> UsageBatch:
    """The events column by column; fields this server cannot take raise InvalidArgument
    naming `events[i].field`."""
    if not events:
        return UsageBatch({name: [] for name in FIELDS})
    columns = dict(
        zip(_PLAIN, (list(c) for c in zip(*map(_READ_PLAIN, events), strict=True)), strict=True)
    )
    for name in ("cost_usd", "baseline_cost_usd"):  # 0.0 may be "unset": ask only then
        columns[name] = [
            value if value or event.HasField(name) else None
            for event, value in zip(events, columns[name], strict=True)
        ]
    columns["status"] = _mapped(_STATUS, columns["status"], "status")
    columns["strategy"] = _mapped(_STRATEGY, columns["strategy"], "strategy")
    columns["time"] = _times(events)
    columns["capabilities"] = [_capabilities(i, e.capabilities) for i, e in enumerate(events)]
    return UsageBatch({name: columns[name] for name in FIELDS})


def _mapped(table: Mapping[int, V], values: list[int], name: str) -> list[V]:
    if not set(values) <= table.keys():
        index = next(i for i, v in enumerate(values) if v not in table)
        raise InvalidArgument(f"unknown value {values[index]}", field=f"events[{index}].{name}")
    return [table[v] for v in values]


def _times(events: Sequence[pb.UsageEvent]) -> list[datetime | None]:
    """The events' times, checked as one column (range checks per event cost more than
    the conversion)."""
    stamps = [_READ_TIME(e.time) for e in events]
    seconds = [s for s, _ in stamps]
    nanos = [n for _, n in stamps]
    if not (
        min(seconds) >= MIN_SECONDS and max(seconds) <= MAX_SECONDS
        and min(nanos) >= 0 and max(nanos) < 1_000_000_000
    ):  # fmt: skip
        for index, event in enumerate(events):
            time(event.time, f"events[{index}].time")  # raises, naming the first bad one
    delta = timedelta
    out: list[datetime | None] = [
        EPOCH + delta(seconds=s, microseconds=n // 1000) for s, n in stamps
    ]
    for index, (s, n) in enumerate(stamps):
        if not (s or n) and not events[index].HasField("time"):
            out[index] = None  # unset: validation names it
    return out


def _capabilities(index: int, values: Iterable[int]) -> tuple[str, ...]:
    if not values:
        return ()
    found = []
    for j, value in enumerate(values):
        found.append(known(CAPABILITY, value, f"events[{index}].capabilities[{j}]"))
    return tuple(sorted(set(found)))


def usage_event(index: int, event: pb.UsageEvent) -> UsageEvent:
    """One event (for tests and tools; Ingest reads whole batches)."""
    try:
        return batch_of([event]).event(0)
    except InvalidArgument as exc:
        raise InvalidArgument(
            exc.message, field=exc.field.replace("[0]", f"[{index}]", 1)
        ) from None


def proto_event(event: UsageEvent) -> pb.UsageEvent:
    """The wire form of a domain event."""
    message = pb.UsageEvent(
        **{name: getattr(event, name) for name in _PLAIN if name not in _SPECIAL},
        status=_STATUS_NUMBER[event.status],  # type: ignore[arg-type]
        strategy=_STRATEGY_NUMBER[event.strategy],  # type: ignore[arg-type]
        capabilities=[_CAPABILITY_NUMBER[c] for c in event.capabilities],  # type: ignore[misc]
    )
    if event.cost_usd is not None:
        message.cost_usd = event.cost_usd
    if event.baseline_cost_usd is not None:
        message.baseline_cost_usd = event.baseline_cost_usd
    if event.time is not None:
        message.time.CopyFrom(timestamp(event.time))
    return message


_SPECIAL = frozenset({"status", "strategy", "cost_usd", "baseline_cost_usd"})


def usage_notice(event: UsageEvent, dropped: int = 0) -> pb.UsageNotice:
    """The live feed's form of a stored event: no prompt, answer or error text."""
    message = pb.UsageNotice(
        request_id=event.request_id,
        key_id=event.key_id,
        team_id=event.team_id,
        requested_model=event.requested_model,
        served_model=event.served_model,
        provider=event.provider,
        strategy=_STRATEGY_NUMBER[event.strategy],  # type: ignore[arg-type]
        status=_STATUS_NUMBER[event.status],  # type: ignore[arg-type]
        latency_ms=event.latency_ms,
        ttft_ms=event.ttft_ms,
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        attempts=event.attempts,
        cache_hit=event.cache_hit,
        stream=event.stream,
        dropped=dropped,
    )
    if event.cost_usd is not None:
        message.cost_usd = event.cost_usd
        if event.baseline_cost_usd is not None:
            message.saving_usd = event.baseline_cost_usd - event.cost_usd
    if event.time is not None:
        message.time.CopyFrom(timestamp(event.time))
    return message


_CAPABILITY_NUMBER = {v: k for k, v in CAPABILITY.items()}


# ---- Queries ----------------------------------------------------------------------------


def usage_filter(message: pb.UsageFilter) -> queries.UsageFilter:
    return queries.usage_filter(
        models=list(message.models),
        providers=list(message.providers),
        key_ids=list(message.key_ids),
        team_ids=list(message.team_ids),
        strategies=[
            known(_STRATEGY, s, f"filter.strategies[{i}]") for i, s in enumerate(message.strategies)
        ],
        statuses=[
            known(_STATUS, s, f"filter.statuses[{i}]") for i, s in enumerate(message.statuses)
        ],
    )


def dimensions(values: Iterable[int]) -> list[Dimension]:
    return [known(_DIMENSION, v, f"group_by[{i}]") for i, v in enumerate(values)]


def timeseries_query(request: pb.TimeseriesRequest, now: datetime) -> queries.Timeseries:
    return queries.timeseries(
        since=optional_time(request, "since"),
        until=optional_time(request, "until"),
        granularity=known(_GRANULARITY, request.granularity, "granularity"),
        now=now,
        group_by_=dimensions(request.group_by),
        filter_=usage_filter(request.filter),
        percentiles=list(request.percentiles),
        max_series=request.max_series,
    )


def group(dims: Sequence[Dimension], values: Sequence[str]) -> pb.UsageGroup:
    message = pb.UsageGroup()
    for dim, value in zip(dims, values, strict=True):
        if dim is Dimension.STRATEGY:
            message.strategy = _STRATEGY_NUMBER[Strategy(value)]  # type: ignore[assignment]
        elif dim is Dimension.STATUS:
            message.status = _STATUS_NUMBER[UsageStatus(value)]  # type: ignore[assignment]
        else:
            setattr(message, _GROUP_FIELD[dim], value)
    return message


_GROUP_FIELD = {
    Dimension.MODEL: "model",
    Dimension.PROVIDER: "provider",
    Dimension.KEY: "key_id",
    Dimension.TEAM: "team_id",
}


def fill_metrics(message: pb.UsageMetrics, m: Metrics, percentiles: tuple[float, ...]) -> None:
    """Write `m` into `message` in place (building and copying submessages would cost
    more than everything else a timeseries does per point)."""
    message.requests = m.requests
    message.errors = m.errors
    message.prompt_tokens = m.prompt_tokens
    message.completion_tokens = m.completion_tokens
    message.cached_tokens = m.cached_tokens
    message.reasoning_tokens = m.reasoning_tokens
    message.priced_requests = m.priced_requests
    message.cost_usd = m.cost_usd
    message.unpriced_requests = m.unpriced_requests
    message.saving_requests = m.saving_requests
    message.baseline_cost_usd = m.baseline_cost_usd
    message.saving_usd = m.saving_usd
    message.cache_hits = m.cache_hits
    message.escalations = m.escalations
    message.latency_mean_ms = m.latency_mean_ms
    message.latency_ms.extend(m.latency_ms(percentiles))
    message.ttft_ms.extend(m.ttft_ms(percentiles))
    message.ttft_requests = m.ttft_requests


def usage_metrics(m: Metrics, percentiles: tuple[float, ...]) -> pb.UsageMetrics:
    message = pb.UsageMetrics()
    fill_metrics(message, m, percentiles)
    return message


def timeseries_response(result: reports.TimeseriesResult) -> pb.TimeseriesResponse:
    q = result.query
    reply = pb.TimeseriesResponse(
        since=timestamp(q.since),
        until=timestamp(q.until),
        granularity=_GRANULARITY_NUMBER[q.granularity],
        group_by=[_DIMENSION_NUMBER[d] for d in q.group_by],
        percentiles=q.percentiles,
        omitted_series=result.omitted,
        source=result.source,
        retained_since=timestamp(result.retained_since),
    )
    for s in result.series:
        series = reply.series.add()
        series.group.CopyFrom(group(q.group_by, s.group))
        fill_metrics(series.total, s.total, q.percentiles)
        for when, m in s.points:
            point = series.points.add()
            point.start.seconds = (when - EPOCH) // _SECOND  # buckets are whole minutes
            fill_metrics(point.metrics, m, q.percentiles)
    return reply


_SECOND = timedelta(seconds=1)


def savings_query(request: pb.SavingsRequest, now: datetime) -> queries.Savings:
    baseline = None
    if request.HasField("baseline"):
        b = request.baseline
        baseline = queries.baseline(b.model, b.input_per_mtok, b.output_per_mtok, b.per_request)
    return queries.savings(
        since=optional_time(request, "since"),
        until=optional_time(request, "until"),
        now=now,
        filter_=usage_filter(request.filter),
        group_by_=dimensions(request.group_by),
        baseline_=baseline,
        request_limit=request.request_limit,
    )


def savings_totals(t: SavingsTotals) -> pb.SavingsTotals:
    return pb.SavingsTotals(
        requests=t.requests,
        priced_requests=t.priced_requests,
        cost_usd=t.cost_usd,
        baseline_cost_usd=t.baseline_cost_usd,
        saving_usd=t.saving_usd,
        saving_per_request_usd=t.saving_per_request_usd,
        unpriced_requests=t.unpriced_requests,
        unpriced_prompt_tokens=t.unpriced_prompt_tokens,
        unpriced_completion_tokens=t.unpriced_completion_tokens,
        no_baseline_requests=t.no_baseline_requests,
    )


def request_saving(r: RequestSaving) -> pb.RequestSaving:
    message = pb.RequestSaving(
        event_id=r.event_id,
        request_id=r.request_id,
        time=timestamp(r.time),
        model=r.model,
        provider=r.provider,
        prompt_tokens=r.prompt_tokens,
        completion_tokens=r.completion_tokens,
    )
    if r.cost_usd is not None:
        message.cost_usd = r.cost_usd
    if r.baseline_cost_usd is not None:
        message.baseline_cost_usd = r.baseline_cost_usd
    if r.saving_usd is not None:
        message.saving_usd = r.saving_usd
    return message


def savings_response(
    result: reports.SavingsResult, dims: Sequence[Dimension]
) -> pb.SavingsResponse:
    return pb.SavingsResponse(
        since=timestamp(result.since),
        until=timestamp(result.until),
        baseline=result.baseline,
        total=savings_totals(result.total),
        groups=[
            pb.SavingsGroup(group=group(dims, g), totals=savings_totals(t))
            for g, t in result.groups
        ],
        requests=[request_saving(r) for r in result.requests],
    )


def forecast_query(request: pb.ForecastRequest, now: datetime) -> queries.Forecast:
    return queries.forecast(
        as_of=optional_time(request, "as_of"),
        now=now,
        lookback_days=request.lookback_days,
        filter_=usage_filter(request.filter),
        quotas=[
            queries.Quota(q.model, q.requests_per_day, q.tokens_per_day) for q in request.quotas
        ],
    )


def projection(p: Projection) -> pb.Projection:
    return pb.Projection(
        to_date=p.to_date, month_end=p.month_end, low=p.low, high=p.high, per_day=p.per_day
    )


def forecast_response(result: reports.ForecastResult) -> pb.ForecastResponse:
    h = result.horizon
    return pb.ForecastResponse(
        as_of=timestamp(h.as_of),
        month_start=timestamp(h.month_start),
        month_end=timestamp(h.month_end),
        method=result.method,
        lookback_days=result.lookback_days,
        days_observed=result.days_observed,
        confidence=result.confidence,
        cost_usd=projection(result.cost_usd),
        saving_usd=projection(result.saving_usd),
        requests=projection(result.requests),
        tokens=projection(result.tokens),
        unpriced_requests=result.unpriced_requests,
        quotas=[_quota(q) for q in result.quotas],
    )


def _quota(q: reports.QuotaForecast) -> pb.QuotaForecast:
    message = pb.QuotaForecast(
        model=q.quota.model,
        requests_per_day=q.quota.requests_per_day,
        tokens_per_day=q.quota.tokens_per_day,
        requests_today=q.use.requests_today,
        tokens_today=q.use.tokens_today,
        projected_requests_today=q.use.projected_requests,
        projected_tokens_today=q.use.projected_tokens,
        requests_fraction=q.requests_fraction,
        tokens_fraction=q.tokens_fraction,
        month_requests=projection(q.month_requests),
    )
    if q.use.exhausted_at is not None:
        message.exhausted_at.CopyFrom(timestamp(q.use.exhausted_at))
    return message


def export_query(request: pb.ExportRequest, now: datetime) -> queries.Export:
    return queries.export(
        since=optional_time(request, "since"),
        until=optional_time(request, "until"),
        now=now,
        filter_=usage_filter(request.filter),
        format_=known(_FORMAT, request.format, "format"),
        include_feedback=request.include_feedback,
        include_features=request.include_features,
        limit=request.limit,
    )


def watch_query(request: pb.WatchMetricsRequest) -> queries.Watch:
    return queries.watch(request.interval_ms, request.window_s)


def _aggregate(a: LiveAggregate) -> pb.LiveAggregate:
    return pb.LiveAggregate(
        provider=a.provider,
        requests=a.requests,
        errors=a.errors,
        tokens=a.tokens,
        requests_per_s=a.requests_per_s,
        tokens_per_s=a.tokens_per_s,
        error_rate=a.error_rate,
        p50_latency_ms=a.p50_latency_ms,
        p95_latency_ms=a.p95_latency_ms,
        p50_ttft_ms=a.p50_ttft_ms,
    )


def live_metrics(snapshot: LiveSnapshot) -> pb.LiveMetrics:
    return pb.LiveMetrics(
        time=timestamp(snapshot.time),
        window_s=snapshot.window_s,
        total=_aggregate(snapshot.total),
        providers=[_aggregate(a) for a in snapshot.providers],
    )


def feedback_of(request: pb.RecordFeedbackRequest) -> Feedback:
    which = request.WhichOneof("value")
    return feedback(
        request.request_id,
        score=request.score if which == "score" else None,
        thumb=known(_THUMB, request.thumb, "thumb") if which == "thumb" else None,
        source=known(_SOURCE, request.source, "source") if request.source else None,
        key_id=request.key_id,
    )


def feedback_response(recorded: Recorded) -> pb.RecordFeedbackResponse:
    return pb.RecordFeedbackResponse(
        event_id=recorded.event_id,
        request_id=recorded.feedback.request_id,
        score=recorded.feedback.score,
        source=_SOURCE_NUMBER[recorded.feedback.source],
        replaced=recorded.replaced,
    )


def summary_response(summary: Summary) -> pb.SummaryResponse:
    return pb.SummaryResponse(
        models=[_model_totals(m) for m in summary.models], total=_model_totals(summary.total)
    )


def _model_totals(totals: ModelTotals) -> pb.ModelTotals:
    return pb.ModelTotals(
        model=totals.model,
        provider=totals.provider,
        requests=totals.requests,
        errors=totals.errors,
        prompt_tokens=totals.prompt_tokens,
        completion_tokens=totals.completion_tokens,
        cost_usd=totals.cost_usd,
        baseline_cost_usd=totals.baseline_cost_usd,
        savings_usd=totals.savings_usd,
        unpriced_requests=totals.unpriced_requests,
    )
