"""The additive usage metrics of one group in one time bucket: what a rollup row holds.

Every field adds up across buckets and groups (counts, sums, histogram bins), so any
coarser answer is a sum of finer ones. Costs are split honestly: `cost_usd` sums only the
known costs (`priced_requests`); the recorded saving covers only the requests whose cost
and baseline are both known (`saving_requests`); the rest is counted apart, never as $0.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.analytics import histogram

COUNTS = (
    "requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens",
    "reasoning_tokens", "priced_requests", "priced_prompt_tokens", "priced_completion_tokens",
    "saving_requests", "cache_hits", "escalations",
)  # fmt: skip
AMOUNTS = ("cost_usd", "baseline_cost_usd", "saving_usd", "latency_sum_ms", "ttft_sum_ms")
SCALARS = COUNTS + AMOUNTS


@dataclass(slots=True)
class Metrics:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    priced_requests: int = 0  # cost known
    priced_prompt_tokens: int = 0
    priced_completion_tokens: int = 0
    saving_requests: int = 0  # cost and recorded baseline known
    cache_hits: int = 0
    escalations: int = 0
    cost_usd: float = 0.0  # over priced requests
    baseline_cost_usd: float = 0.0  # over saving requests
    saving_usd: float = 0.0  # over saving requests
    latency_sum_ms: float = 0.0
    ttft_sum_ms: float = 0.0  # over requests with a first token
    latency: list[int] = field(default_factory=histogram.empty)
    ttft: list[int] = field(default_factory=histogram.empty)

    @classmethod
    def of(cls, scalars: Sequence[Any], latency: list[int], ttft: list[int]) -> Metrics:
        """From `scalars` in SCALARS order (the order of the fields above)."""
        return cls(*scalars, latency, ttft)  # type: ignore[call-arg]

    def add(self, other: Metrics) -> None:
        for name in SCALARS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency[:] = map(operator.add, self.latency, other.latency)
        self.ttft[:] = map(operator.add, self.ttft, other.ttft)

    @property
    def unpriced_requests(self) -> int:
        return self.requests - self.priced_requests

    @property
    def ttft_requests(self) -> int:
        return sum(self.ttft)

    @property
    def latency_mean_ms(self) -> float:
        return self.latency_sum_ms / self.requests if self.requests else 0.0

    def latency_ms(self, percentiles: tuple[float, ...]) -> list[float]:
        return histogram.percentiles(self.latency, percentiles)

    def ttft_ms(self, percentiles: tuple[float, ...]) -> list[float]:
        return histogram.percentiles(self.ttft, percentiles)


_READ_SCALARS = operator.attrgetter(*SCALARS)


def total(parts: list[Metrics]) -> Metrics:
    """The sum of `parts`, column by column (one pass per field, not per part)."""
    if not parts:
        return Metrics()
    scalars = [sum(column) for column in zip(*map(_READ_SCALARS, parts), strict=True)]
    latency = [sum(column) for column in zip(*(p.latency for p in parts), strict=True)]
    ttft = [sum(column) for column in zip(*(p.ttft for p in parts), strict=True)]
    return Metrics.of(scalars, latency, ttft)
