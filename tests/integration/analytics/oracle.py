"""What the analytics answers must be, computed straight from the events in plain Python:
the independent side of the contract tests (nothing here is shared with the store)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from services.analytics.histogram import EDGES
from services.analytics.metrics import Metrics
from services.analytics.usage import UsageEvent, UsageStatus

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GROUPS: dict[str, Callable[[UsageEvent], str]] = {
    "model": lambda e: e.served_model or e.requested_model,
    "provider": lambda e: e.provider,
    "key": lambda e: e.key_id,
    "team": lambda e: e.team_id,
    "strategy": lambda e: e.strategy.value,
    "status": lambda e: e.status.value,
}


def metrics(events: Iterable[UsageEvent]) -> Metrics:
    m = Metrics()
    for e in events:
        m.requests += 1
        m.errors += e.status is UsageStatus.ERROR
        m.prompt_tokens += e.prompt_tokens
        m.completion_tokens += e.completion_tokens
        m.cached_tokens += e.cached_tokens
        m.reasoning_tokens += e.reasoning_tokens
        m.cache_hits += e.cache_hit
        m.escalations += e.escalations
        m.latency_sum_ms += e.latency_ms
        m.latency[bisect.bisect_right(EDGES, e.latency_ms)] += 1
        if e.ttft_ms > 0:
            m.ttft_sum_ms += e.ttft_ms
            m.ttft[bisect.bisect_right(EDGES, e.ttft_ms)] += 1
        if e.cost_usd is not None:
            m.priced_requests += 1
            m.priced_prompt_tokens += e.prompt_tokens
            m.priced_completion_tokens += e.completion_tokens
            m.cost_usd += e.cost_usd
            if e.baseline_cost_usd is not None:
                m.saving_requests += 1
                m.baseline_cost_usd += e.baseline_cost_usd
                m.saving_usd += e.baseline_cost_usd - e.cost_usd
    return m


def bucket(when: datetime, step: timedelta) -> datetime:
    return EPOCH + (when - EPOCH) // step * step


def grouped(
    events: Iterable[UsageEvent], dims: Iterable[str]
) -> dict[tuple[str, ...], list[UsageEvent]]:
    out: dict[tuple[str, ...], list[UsageEvent]] = {}
    names = list(dims)
    for e in events:
        out.setdefault(tuple(GROUPS[d](e) for d in names), []).append(e)
    return out


def same(actual: Metrics, expected: Metrics) -> bool:
    """Counts exactly, amounts to rounding."""
    for name in actual.__slots__:
        a, b = getattr(actual, name), getattr(expected, name)
        if isinstance(a, float):
            if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif a != b:
            return False
    return True
