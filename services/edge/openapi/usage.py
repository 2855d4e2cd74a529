"""The usage routes (`services/edge/usage_routes.py`): `/v1/usage/{summary,timeseries,
savings,forecast,export}` and `POST /v1/feedback`. Parameter names and words come from the
same tables `usage_json` reads them with, so the document cannot drift from the code."""

from __future__ import annotations

from collections.abc import Mapping

from services.edge.openapi.document import ApiDocument, Json, ok
from services.edge.usage_json import (
    DIMENSIONS,
    FORMATS,
    GRANULARITIES,
    INCLUDES,
    SOURCES,
    STATUSES,
    STRATEGIES,
    THUMBS,
)

TIME: Json = {
    "type": "string",
    "description": "RFC 3339 (`2026-12-01T00:00:00Z`) or Unix seconds",
}
STAMP: Json = {"type": ["string", "null"], "format": "date-time"}
USD: Json = {"type": "number"}
UNKNOWN_USD: Json = {"type": ["number", "null"], "description": "null: the price is unknown"}
INT: Json = {"type": "integer", "minimum": 0}


def _query(name: str, schema: Json, description: str) -> Json:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _words(name: str, table: Mapping[str, int], description: str) -> Json:
    return _query(
        name,
        {"type": "string", "examples": [",".join(list(table)[:2])]},
        f"{description}: comma-separated or repeated, of {', '.join(table)}",
    )


RANGE = [
    _query("since", TIME, "from (inclusive); default: the start of retained data"),
    _query("until", TIME, "to (exclusive); default: now"),
]
FILTERS = [
    _query("model", {"type": "string"}, "only these served models (comma-separated)"),
    _query("provider", {"type": "string"}, "only these providers (comma-separated)"),
    _query("key", {"type": "string"}, "only these key ids (a member key: its own only)"),
    _query("team", {"type": "string"}, "only these teams (comma-separated)"),
    _words("strategy", STRATEGIES, "only these strategies"),
    _words("status", STATUSES, "only these outcomes"),
]
GROUP_BY = _words("group_by", DIMENSIONS, "one series or group per value of")

PERCENTILES: Json = {"type": "object", "additionalProperties": {"type": "number"}}
METRICS: Json = {
    "type": "object",
    "required": ["requests", "errors", "cost_usd", "saving_usd", "unpriced_requests"],
    "properties": {
        "requests": INT,
        "errors": INT,
        "prompt_tokens": INT,
        "completion_tokens": INT,
        "cached_tokens": INT,
        "reasoning_tokens": INT,
        "priced_requests": INT,
        "cost_usd": {**USD, "description": "of the priced requests only"},
        "unpriced_requests": {**INT, "description": "counted apart, never as $0"},
        "saving_requests": INT,
        "baseline_cost_usd": USD,
        "saving_usd": USD,
        "cache_hits": INT,
        "escalations": INT,
        "latency_mean_ms": {"type": "number"},
        "latency_ms": {**PERCENTILES, "description": "by percentile label: p50, p95, …"},
        "ttft_ms": {**PERCENTILES, "description": "time to first token, by percentile"},
        "ttft_requests": INT,
    },
}
GROUP: Json = {"type": "object", "additionalProperties": {"type": "string"}}

TIMESERIES: Json = {
    "type": "object",
    "required": ["granularity", "series"],
    "properties": {
        "since": STAMP,
        "until": STAMP,
        "granularity": {"enum": list(GRANULARITIES)},
        "group_by": {"type": "array", "items": {"enum": list(DIMENSIONS)}},
        "percentiles": {"type": "array", "items": {"type": "number"}},
        "source": {"type": "string", "description": "rollups or raw rows"},
        "retained_since": STAMP,
        "omitted_series": INT,
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "group": GROUP,
                    "total": METRICS,
                    "points": {
                        "type": "array",
                        "items": {"allOf": [METRICS, {"properties": {"start": STAMP}}]},
                    },
                },
            },
        },
    },
}

SAVINGS_TOTALS: Json = {
    "type": "object",
    "properties": {
        "requests": INT,
        "priced_requests": INT,
        "cost_usd": USD,
        "baseline_cost_usd": USD,
        "saving_usd": USD,
        "saving_per_request_usd": USD,
        "unpriced_requests": INT,
        "unpriced_prompt_tokens": INT,
        "unpriced_completion_tokens": INT,
        "no_baseline_requests": INT,
    },
}
SAVINGS: Json = {
    "type": "object",
    "required": ["baseline", "total", "groups", "requests"],
    "properties": {
        "since": STAMP,
        "until": STAMP,
        "baseline": {"type": "object", "description": "what the saving is measured against"},
        "total": SAVINGS_TOTALS,
        "groups": {"type": "array", "items": {"allOf": [SAVINGS_TOTALS, {"type": "object"}]}},
        "requests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "event_id": {"type": "string"},
                    "request_id": {"type": "string"},
                    "time": STAMP,
                    "model": {"type": "string"},
                    "provider": {"type": "string"},
                    "prompt_tokens": INT,
                    "completion_tokens": INT,
                    "cost_usd": UNKNOWN_USD,
                    "baseline_cost_usd": UNKNOWN_USD,
                    "saving_usd": UNKNOWN_USD,
                },
            },
        },
    },
}

PROJECTION: Json = {
    "type": "object",
    "description": "so far this month, at month end, its low/high bounds, and per day",
    "properties": {k: {"type": "number"} for k in ("to_date", "month_end", "low", "high")}
    | {"per_day": {"type": "number"}},
}
FORECAST: Json = {
    "type": "object",
    "required": ["method", "cost_usd", "saving_usd", "quotas"],
    "properties": {
        "as_of": STAMP,
        "month_start": STAMP,
        "month_end": STAMP,
        "method": {"type": "string", "description": "how the projection is made"},
        "lookback_days": INT,
        "days_observed": INT,
        "confidence": {"type": "number"},
        "cost_usd": PROJECTION,
        "saving_usd": PROJECTION,
        "requests": PROJECTION,
        "tokens": PROJECTION,
        "unpriced_requests": INT,
        "quotas_from": {"type": "string"},
        "quotas": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "model": {"type": "string"},
                    "requests_per_day": {"type": ["integer", "null"]},
                    "tokens_per_day": {"type": ["integer", "null"]},
                    "requests_today": INT,
                    "tokens_today": INT,
                    "projected_requests_today": {"type": "number"},
                    "projected_tokens_today": {"type": "number"},
                    "requests_fraction": {"type": "number"},
                    "tokens_fraction": {"type": "number"},
                    "exhausted_at": STAMP,
                    "month_requests": PROJECTION,
                },
            },
        },
    },
}

MODEL_TOTALS: Json = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "provider": {"type": "string"},
        "requests": INT,
        "errors": INT,
        "prompt_tokens": INT,
        "completion_tokens": INT,
        "cost_usd": USD,
        "baseline_cost_usd": USD,
        "saving_usd": USD,
        "unpriced_requests": INT,
    },
}

FEEDBACK_INPUT: Json = {
    "type": "object",
    "required": ["request_id"],
    "description": "either `score` or `thumbs`",
    "properties": {
        "request_id": {"type": "string", "minLength": 1, "description": "its x-request-id"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "thumbs": {"enum": list(THUMBS)},
        "source": {"enum": list(SOURCES), "default": "application"},
    },
}
FEEDBACK: Json = {
    "type": "object",
    "required": ["request_id", "event_id", "score", "source", "replaced"],
    "properties": {
        "request_id": {"type": "string"},
        "event_id": {"type": "string"},
        "score": {"type": "number"},
        "source": {"enum": list(SOURCES)},
        "replaced": {"type": "boolean", "description": "an earlier score was replaced"},
    },
}


def describe(doc: ApiDocument) -> None:
    tags = ["usage"]
    doc.operation(
        "get",
        "/v1/usage/summary",
        operation_id="usageSummary",
        summary="Totals per served model (admin and viewer keys)",
        parameters=RANGE,
        responses={
            "200": ok(
                "totals",
                {
                    "type": "object",
                    "required": ["models", "total"],
                    "properties": {
                        "models": {"type": "array", "items": MODEL_TOTALS},
                        "total": MODEL_TOTALS,
                    },
                },
            )
        },
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/usage/timeseries",
        operation_id="usageTimeseries",
        summary="Requests, tokens, cost, saving, errors, latency and TTFT over time",
        description="A member key sees only its own key's usage.",
        parameters=[
            *RANGE,
            _words("granularity", GRANULARITIES, "bucket size"),
            GROUP_BY,
            *FILTERS,
            _query("percentiles", {"type": "string", "examples": ["50,95,99"]}, "0–100"),
            _query("max_series", INT, "at most this many series (the rest are counted)"),
        ],
        responses={"200": ok("the series", doc.schema("Timeseries", TIMESERIES))},
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/usage/savings",
        operation_id="usageSavings",
        summary="What the routing saved against a baseline, in total, per group and request",
        description="Against `baseline` (a model id: its catalogue price), or prices given "
        "as `input_per_mtok`/`output_per_mtok`, else each request's recorded baseline. "
        "Unpriced usage is counted apart, never as $0.",
        parameters=[
            *RANGE,
            GROUP_BY,
            *FILTERS,
            _query("baseline", {"type": "string"}, "a catalogue model id"),
            _query("input_per_mtok", {"type": "number", "minimum": 0}, "USD per Mtok in"),
            _query("output_per_mtok", {"type": "number", "minimum": 0}, "USD per Mtok out"),
            _query("request_price", {"type": "number", "minimum": 0}, "USD per request"),
            _query("requests", INT, "add the newest N requests with their own saving"),
        ],
        responses={"200": ok("the savings", doc.schema("Savings", SAVINGS))},
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/usage/forecast",
        operation_id="usageForecast",
        summary="Month-end cost, saving and free-quota use from the recent trend",
        parameters=[
            _query("as_of", TIME, "forecast as of this time; default: now"),
            _query("lookback_days", INT, "days of trend to fit"),
            *FILTERS,
        ],
        responses={"200": ok("the forecast", doc.schema("Forecast", FORECAST))},
        tags=tags,
    )
    doc.operation(
        "get",
        "/v1/usage/export",
        operation_id="usageExport",
        summary="Usage rows as CSV or JSON lines, streamed",
        parameters=[
            *RANGE,
            *FILTERS,
            _words("format", FORMATS, "the file format"),
            _query("include", {"enum": list(INCLUDES)}, "add feedback or feature columns"),
            _query("limit", INT, "at most this many rows"),
        ],
        responses={
            "200": {
                "description": "the rows (a download cut short is a broken download)",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
        tags=tags,
    )
    doc.operation(
        "post",
        "/v1/feedback",
        operation_id="recordFeedback",
        summary="Score an answer (a member key: only its own requests)",
        body=doc.schema("FeedbackInput", FEEDBACK_INPUT),
        responses={"200": ok("stored with the request's usage", doc.schema("Feedback", FEEDBACK))},
        tags=tags,
    )
