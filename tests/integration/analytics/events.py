"""Usage events for the analytics tests: realistic values, overridable per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from freeway.analytics.v1 import analytics_pb2
from freeway.common.v1 import common_pb2
from services.analytics.usage import Strategy, UsageEvent, UsageStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(n: int, **overrides: Any) -> UsageEvent:
    """Event `n`: one minute after event n-1, on a free Groq model by default."""
    fields: dict[str, Any] = {
        "event_id": f"evt-{n:06d}",
        "time": T0 + timedelta(minutes=n),
        "key_id": "key-1",
        "request_id": f"req-{n}",
        "requested_model": "auto",
        "served_model": "groq/llama-3.1-8b-instant",
        "provider": "groq",
        "prompt_tokens": 100 + n,
        "completion_tokens": 20,
        "cost_usd": 0.0,
        "baseline_cost_usd": 0.0015,
        "latency_ms": 210.5,
        "ttft_ms": 80.25,
        "attempts": 1,
        "cache_hit": False,
        "status": UsageStatus.OK,
        "complexity": 0.31,
        "strategy": Strategy.FREE_FIRST,
        "error": "",
        "stream": True,
    }
    fields.update(overrides)
    return UsageEvent(**fields)


def proto_event(n: int, **overrides: Any) -> analytics_pb2.UsageEvent:
    """The wire form of `event(n, **overrides)`; `time=None` leaves the time unset."""
    domain = event(n, **overrides)
    message = analytics_pb2.UsageEvent(
        event_id=domain.event_id,
        key_id=domain.key_id,
        request_id=domain.request_id,
        requested_model=domain.requested_model,
        served_model=domain.served_model,
        provider=domain.provider,
        prompt_tokens=domain.prompt_tokens,
        completion_tokens=domain.completion_tokens,
        cost_usd=domain.cost_usd,
        baseline_cost_usd=domain.baseline_cost_usd,
        latency_ms=domain.latency_ms,
        ttft_ms=domain.ttft_ms,
        attempts=domain.attempts,
        cache_hit=domain.cache_hit,
        status=_STATUS[domain.status],
        complexity=domain.complexity,
        strategy=_STRATEGY[domain.strategy],
        error=domain.error,
        stream=domain.stream,
    )
    if domain.time is not None:
        message.time.CopyFrom(timestamp(domain.time))
    return message


def timestamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


_STATUS = {
    UsageStatus.UNSPECIFIED: analytics_pb2.USAGE_STATUS_UNSPECIFIED,
    UsageStatus.OK: analytics_pb2.USAGE_STATUS_OK,
    UsageStatus.ERROR: analytics_pb2.USAGE_STATUS_ERROR,
    UsageStatus.CANCELLED: analytics_pb2.USAGE_STATUS_CANCELLED,
}
_STRATEGY = {
    Strategy.UNSPECIFIED: common_pb2.STRATEGY_UNSPECIFIED,
    Strategy.FREE_FIRST: common_pb2.STRATEGY_FREE_FIRST,
    Strategy.COST: common_pb2.STRATEGY_COST,
    Strategy.QUALITY: common_pb2.STRATEGY_QUALITY,
    Strategy.LATENCY: common_pb2.STRATEGY_LATENCY,
    Strategy.HYBRID: common_pb2.STRATEGY_HYBRID,
    Strategy.CASCADE: common_pb2.STRATEGY_CASCADE,
}
