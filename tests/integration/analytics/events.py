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


MODELS = (
    ("groq/llama-3.1-8b-instant", "groq", 0.0),  # free: cost known, $0
    ("cerebras/llama3.1-8b", "cerebras", 0.0),
    ("openai/gpt-4o-mini", "openai", 0.15),  # paid: USD per million tokens
    ("mistral/mystery-large", "mistral", None),  # unpriced: cost unknown
)
KEYS = (("key-a", "team-1"), ("key-b", "team-1"), ("key-c", "team-2"))


def mixed(
    count: int, start: datetime = T0, step: timedelta = timedelta(minutes=7)
) -> list[UsageEvent]:
    """`count` events of several models, keys, teams, statuses and strategies, `step`
    apart from `start`, with latencies spread over three orders of magnitude and some
    unknown prices (deterministic: the same every run)."""
    out = []
    for n in range(count):
        model, provider, price = MODELS[n % len(MODELS)]
        key, team = KEYS[(n // 2) % len(KEYS)]
        status = (UsageStatus.OK, UsageStatus.OK, UsageStatus.ERROR, UsageStatus.CANCELLED)[
            (n // 5) % 4
        ]
        prompt, completion = 50 + (n * 37) % 900, 5 + (n * 11) % 300
        cost = None if price is None else (prompt + completion) * price / 1e6
        out.append(
            event(
                n,
                time=start + step * n + timedelta(seconds=n % 50, microseconds=n),
                key_id=key,
                team_id=team,
                served_model="" if status is UsageStatus.ERROR and n % 3 == 0 else model,
                provider="" if status is UsageStatus.ERROR and n % 3 == 0 else provider,
                requested_model="auto",
                prompt_tokens=prompt,
                completion_tokens=completion,
                cached_tokens=prompt // 4,
                reasoning_tokens=completion // 10,
                cost_usd=cost,
                baseline_cost_usd=None if n % 11 == 0 else (prompt * 0.5 + completion * 1.5) / 1e6,
                latency_ms=0.4 + (n * 7919) % 30_000 / 7.0,
                ttft_ms=0.0 if n % 6 == 0 else 20 + (n * 31) % 900,
                status=status,
                strategy=(Strategy.FREE_FIRST, Strategy.CASCADE, Strategy.COST)[n % 3],
                cache_hit=n % 9 == 0,
                escalations=n % 4 if n % 3 == 1 else 0,
            )
        )
    return out
