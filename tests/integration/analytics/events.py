"""Usage events for the analytics tests: realistic values, overridable per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from freeway.analytics.v1 import analytics_pb2
from services.analytics import wire
from services.analytics.usage import Strategy, UsageEvent, UsageStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)  # the clock of the services under test


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
    return wire.proto_event(event(n, **overrides))


def timestamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp
