"""The usage REST API's one codec: query parameters → AnalyticsService requests, and its
answers → JSON.

Names are the proto enums' own (`STRATEGY_FREE_FIRST` → "free-first", `USAGE_DIMENSION_KEY`
→ "key"), so the REST vocabulary cannot drift from the contract. Times are RFC 3339 (or
epoch seconds) in, RFC 3339 UTC out; an unknown cost is null, never 0. Every bad
parameter is an InvalidArgument naming it (→ 400 in OpenAI's error shape).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp
from multidict import MultiMapping

from freeway.analytics.v1 import analytics_pb2 as pb
from freeway.common.v1 import common_pb2
from services.edge.queries import integer
from services.shared.errors import InvalidArgument

Query = MultiMapping[str]
MAX_VALUES = 100  # per list parameter (analytics' own limit)


def names(enum: EnumTypeWrapper, prefix: str) -> dict[str, int]:
    """API names → proto numbers, from the enum itself: STRATEGY_FREE_FIRST → "free-first"."""
    return {
        name.removeprefix(prefix).lower().replace("_", "-"): number
        for name, number in enum.items()
        if number
    }


STRATEGIES = names(common_pb2.Strategy, "STRATEGY_")
STATUSES = names(pb.UsageStatus, "USAGE_STATUS_")
DIMENSIONS = names(pb.UsageDimension, "USAGE_DIMENSION_")
GRANULARITIES = names(pb.Granularity, "GRANULARITY_")
FORMATS = names(pb.ExportFormat, "EXPORT_FORMAT_")
SOURCES = names(pb.FeedbackSource, "FEEDBACK_SOURCE_")
THUMBS = names(pb.Thumb, "THUMB_")
INCLUDES = ("feedback", "features")
_NAME = {
    id(table): {n: name for name, n in table.items()}
    for table in (STRATEGIES, STATUSES, DIMENSIONS, GRANULARITIES, SOURCES)
}

# Where analytics' own field names live in these parameters (for its 400s' `param`).
_PARAMS = {
    "filter.models": "model",
    "filter.providers": "provider",
    "filter.key_ids": "key",
    "filter.team_ids": "team",
    "filter.strategies": "strategy",
    "filter.statuses": "status",
    "request_limit": "requests",
    "baseline.input_per_mtok": "input_per_mtok",
    "baseline.output_per_mtok": "output_per_mtok",
    "baseline.per_request": "request_price",
    "baseline.model": "baseline",
    "quotas": "quotas",
}


def param_of(field: str) -> str:
    """The REST parameter of an analytics field path (`filter.models[2]` → `model`)."""
    plain = field.split("[", 1)[0]
    return _PARAMS.get(plain, plain.split(".", 1)[0])


def name_of(table: Mapping[str, int], number: int) -> str:
    return _NAME[id(table)].get(number, "")


# ---- Parameters --------------------------------------------------------------------------


def words(query: Query, name: str) -> list[str]:
    """Every value of a list parameter: repeated (`?x=a&x=b`) and/or comma-separated."""
    out = [w.strip() for raw in query.getall(name, ()) for w in raw.split(",") if w.strip()]
    if len(out) > MAX_VALUES:
        raise InvalidArgument(f"at most {MAX_VALUES} values, got {len(out)}", field=name)
    return list(dict.fromkeys(out))


def choices(query: Query, name: str, table: Mapping[str, int]) -> list[int]:
    found = []
    for word in words(query, name):
        if word.lower() not in table:
            raise InvalidArgument(f"expected one of {', '.join(table)}; got {word!r}", field=name)
        found.append(table[word.lower()])
    return found


def choice(query: Query, name: str, table: Mapping[str, int], default: int = 0) -> int:
    found = choices(query, name, table)
    if len(found) > 1:
        raise InvalidArgument("expected one value", field=name)
    return found[0] if found else default


def instant_param(query: Query, name: str) -> Timestamp | None:
    """RFC 3339 (`2026-03-01T12:00:00Z`, any offset) or epoch seconds; None when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    when = _parse_time(raw.strip())
    if when is None:
        raise InvalidArgument(
            f"expected an RFC 3339 time (2026-03-01T12:00:00Z) or epoch seconds, got {raw!r}",
            field=name,
        )
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _parse_time(raw: str) -> datetime | None:
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or not -62_135_596_800 <= seconds <= 253_402_300_799:
            return None
        return datetime.fromtimestamp(seconds, UTC)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # a time without an offset is ambiguous: refuse it
    return when.astimezone(UTC)


def number(query: Query, name: str) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or len(raw) > 40:
        raise InvalidArgument(f"expected a number, got {raw!r}", field=name)
    return value


def numbers(query: Query, name: str) -> list[float]:
    out = []
    for word in words(query, name):
        try:
            out.append(float(word))
        except ValueError:
            raise InvalidArgument(f"expected numbers, got {word!r}", field=name) from None
    return out


def usage_filter(query: Query) -> pb.UsageFilter:
    return pb.UsageFilter(
        models=words(query, "model"),
        providers=words(query, "provider"),
        key_ids=words(query, "key"),
        team_ids=words(query, "team"),
        strategies=choices(query, "strategy", STRATEGIES),  # type: ignore[arg-type]
        statuses=choices(query, "status", STATUSES),  # type: ignore[arg-type]
    )


def timeseries_request(query: Query) -> pb.TimeseriesRequest:
    return pb.TimeseriesRequest(
        since=instant_param(query, "since"),
        until=instant_param(query, "until"),
        granularity=choice(query, "granularity", GRANULARITIES),  # type: ignore[arg-type]
        group_by=choices(query, "group_by", DIMENSIONS),  # type: ignore[arg-type]
        filter=usage_filter(query),
        percentiles=numbers(query, "percentiles"),
        max_series=integer(query, "max_series", 0, high=2**32 - 1),
    )


def export_request(query: Query) -> pb.ExportRequest:
    include = words(query, "include")
    for word in include:
        if word not in INCLUDES:
            raise InvalidArgument(
                f"expected one of {', '.join(INCLUDES)}; got {word!r}", field="include"
            )
    return pb.ExportRequest(
        since=instant_param(query, "since"),
        until=instant_param(query, "until"),
        filter=usage_filter(query),
        format=choice(query, "format", FORMATS, pb.EXPORT_FORMAT_JSONL),  # type: ignore[arg-type]
        include_feedback="feedback" in include,
        include_features="features" in include,
        limit=integer(query, "limit", 0),
    )


def feedback_request(body: Any, key_id: str) -> pb.RecordFeedbackRequest:
    """`POST /v1/feedback` {"request_id", "score" | "thumbs": "up"|"down", "source"}."""
    if not isinstance(body, dict):
        raise InvalidArgument("expected a JSON object")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise InvalidArgument(
            "required: the id of the request (its x-request-id)", field="request_id"
        )
    source = body.get("source", "application")
    if not isinstance(source, str) or source not in SOURCES:
        raise InvalidArgument(f"expected one of {', '.join(SOURCES)}", field="source")
    message = pb.RecordFeedbackRequest(
        request_id=request_id,
        source=SOURCES[source],  # type: ignore[arg-type]
        key_id=key_id,
    )
    score, thumbs = body.get("score"), body.get("thumbs")
    if (score is None) == (thumbs is None):
        raise InvalidArgument("give either a score in [0, 1] or thumbs up/down", field="score")
    if thumbs is not None:
        if not isinstance(thumbs, str) or thumbs not in THUMBS:
            raise InvalidArgument("expected up or down", field="thumbs")
        message.thumb = THUMBS[thumbs]  # type: ignore[assignment]
    elif isinstance(score, bool) or not isinstance(score, int | float):
        raise InvalidArgument("expected a number in [0, 1]", field="score")
    else:
        message.score = float(score)
    return message


def loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidArgument("the body is not valid JSON") from None


# ---- Answers -----------------------------------------------------------------------------


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def instant(ts: Timestamp) -> str | None:
    return ts.ToJsonString() if ts.seconds or ts.nanos else None


def _label(p: float) -> str:
    return f"p{p:g}"


def group_json(group: pb.UsageGroup, dims: Iterable[int]) -> dict[str, str]:
    out = {}
    for dim in dims:
        name = name_of(DIMENSIONS, dim)
        if dim == pb.USAGE_DIMENSION_STRATEGY:
            out[name] = name_of(STRATEGIES, group.strategy) or "unspecified"
        elif dim == pb.USAGE_DIMENSION_STATUS:
            out[name] = name_of(STATUSES, group.status) or "unspecified"
        else:
            out[name] = getattr(group, {"key": "key_id", "team": "team_id"}.get(name, name))
    return out


def metrics_json(m: pb.UsageMetrics, percentiles: Sequence[float]) -> dict[str, Any]:
    return {
        "requests": m.requests,
        "errors": m.errors,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "cached_tokens": m.cached_tokens,
        "reasoning_tokens": m.reasoning_tokens,
        "priced_requests": m.priced_requests,
        "cost_usd": m.cost_usd,
        "unpriced_requests": m.unpriced_requests,
        "saving_requests": m.saving_requests,
        "baseline_cost_usd": m.baseline_cost_usd,
        "saving_usd": m.saving_usd,
        "cache_hits": m.cache_hits,
        "escalations": m.escalations,
        "latency_mean_ms": m.latency_mean_ms,
        "latency_ms": {_label(p): v for p, v in zip(percentiles, m.latency_ms, strict=True)},
        "ttft_ms": {_label(p): v for p, v in zip(percentiles, m.ttft_ms, strict=True)},
        "ttft_requests": m.ttft_requests,
    }


def timeseries_json(reply: pb.TimeseriesResponse) -> bytes:
    p = list(reply.percentiles)
    return dumps(
        {
            "since": instant(reply.since),
            "until": instant(reply.until),
            "granularity": name_of(GRANULARITIES, reply.granularity),
            "group_by": [name_of(DIMENSIONS, d) for d in reply.group_by],
            "percentiles": p,
            "source": reply.source,
            "retained_since": instant(reply.retained_since),
            "omitted_series": reply.omitted_series,
            "series": [
                {
                    "group": group_json(s.group, reply.group_by),
                    "total": metrics_json(s.total, p),
                    "points": [
                        {"start": instant(pt.start), **metrics_json(pt.metrics, p)}
                        for pt in s.points
                    ],
                }
                for s in reply.series
            ],
        }
    )


def _optional(message: Any, name: str) -> float | None:
    return getattr(message, name) if message.HasField(name) else None


def savings_totals_json(t: pb.SavingsTotals) -> dict[str, Any]:
    return {
        "requests": t.requests,
        "priced_requests": t.priced_requests,
        "cost_usd": t.cost_usd,
        "baseline_cost_usd": t.baseline_cost_usd,
        "saving_usd": t.saving_usd,
        "saving_per_request_usd": t.saving_per_request_usd,
        "unpriced_requests": t.unpriced_requests,
        "unpriced_prompt_tokens": t.unpriced_prompt_tokens,
        "unpriced_completion_tokens": t.unpriced_completion_tokens,
        "no_baseline_requests": t.no_baseline_requests,
    }


def savings_json(reply: pb.SavingsResponse, baseline: dict[str, Any], dims: Sequence[int]) -> bytes:
    return dumps(
        {
            "since": instant(reply.since),
            "until": instant(reply.until),
            "baseline": baseline,
            "total": savings_totals_json(reply.total),
            "groups": [
                {"group": group_json(g.group, dims), **savings_totals_json(g.totals)}
                for g in reply.groups
            ],
            "requests": [
                {
                    "event_id": r.event_id,
                    "request_id": r.request_id,
                    "time": instant(r.time),
                    "model": r.model,
                    "provider": r.provider,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "cost_usd": _optional(r, "cost_usd"),
                    "baseline_cost_usd": _optional(r, "baseline_cost_usd"),
                    "saving_usd": _optional(r, "saving_usd"),
                }
                for r in reply.requests
            ],
        }
    )


def projection_json(p: pb.Projection) -> dict[str, float]:
    return {
        "to_date": p.to_date,
        "month_end": p.month_end,
        "low": p.low,
        "high": p.high,
        "per_day": p.per_day,
    }


def forecast_json(reply: pb.ForecastResponse, quotas_from: str) -> bytes:
    return dumps(
        {
            "as_of": instant(reply.as_of),
            "month_start": instant(reply.month_start),
            "month_end": instant(reply.month_end),
            "method": reply.method,
            "lookback_days": reply.lookback_days,
            "days_observed": reply.days_observed,
            "confidence": reply.confidence,
            "cost_usd": projection_json(reply.cost_usd),
            "saving_usd": projection_json(reply.saving_usd),
            "requests": projection_json(reply.requests),
            "tokens": projection_json(reply.tokens),
            "unpriced_requests": reply.unpriced_requests,
            "quotas_from": quotas_from,
            "quotas": [
                {
                    "model": q.model,
                    "requests_per_day": q.requests_per_day or None,
                    "tokens_per_day": q.tokens_per_day or None,
                    "requests_today": q.requests_today,
                    "tokens_today": q.tokens_today,
                    "projected_requests_today": q.projected_requests_today,
                    "projected_tokens_today": q.projected_tokens_today,
                    "requests_fraction": q.requests_fraction,
                    "tokens_fraction": q.tokens_fraction,
                    "exhausted_at": instant(q.exhausted_at),
                    "month_requests": projection_json(q.month_requests),
                }
                for q in reply.quotas
            ],
        }
    )


def summary_json(reply: pb.SummaryResponse) -> bytes:
    def totals(t: pb.ModelTotals) -> dict[str, Any]:
        return {
            "model": t.model,
            "provider": t.provider,
            "requests": t.requests,
            "errors": t.errors,
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "cost_usd": t.cost_usd,
            "baseline_cost_usd": t.baseline_cost_usd,
            "saving_usd": t.savings_usd,
            "unpriced_requests": t.unpriced_requests,
        }

    total = totals(reply.total)
    del total["model"], total["provider"]
    return dumps({"models": [totals(m) for m in reply.models], "total": total})


def feedback_json(reply: pb.RecordFeedbackResponse) -> bytes:
    return dumps(
        {
            "request_id": reply.request_id,
            "event_id": reply.event_id,
            "score": reply.score,
            "source": name_of(SOURCES, reply.source),
            "replaced": reply.replaced,
        }
    )
