"""What routing saved: the baseline's cost of the same tokens minus what was paid.

Only requests whose cost is known take part. With the recorded baseline (the router's
configured baseline model, priced when the request was made) a request also needs that
baseline to be known; with prices given in the query, the baseline cost is computed from
each request's tokens. Everything else is counted apart, never as $0 and never as saved.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from services.analytics.metrics import Metrics
from services.analytics.queries import Baseline

RECORDED = "recorded"


@dataclass(frozen=True, slots=True)
class SavingsTotals:
    requests: int = 0
    priced_requests: int = 0  # the saving is computed over these
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    saving_usd: float = 0.0
    unpriced_requests: int = 0
    unpriced_prompt_tokens: int = 0
    unpriced_completion_tokens: int = 0
    no_baseline_requests: int = 0  # cost known, recorded baseline unknown

    @property
    def saving_per_request_usd(self) -> float:
        return self.saving_usd / self.priced_requests if self.priced_requests else 0.0


def totals(metrics: Metrics, baseline: Baseline | None) -> SavingsTotals:
    """The saving of `metrics` against `baseline` (None: the recorded baseline)."""
    unpriced = {
        "requests": metrics.requests,
        "unpriced_requests": metrics.unpriced_requests,
        "unpriced_prompt_tokens": metrics.prompt_tokens - metrics.priced_prompt_tokens,
        "unpriced_completion_tokens": metrics.completion_tokens - metrics.priced_completion_tokens,
    }
    if baseline is None:
        return SavingsTotals(
            priced_requests=metrics.saving_requests,
            cost_usd=metrics.baseline_cost_usd - metrics.saving_usd,
            baseline_cost_usd=metrics.baseline_cost_usd,
            saving_usd=metrics.saving_usd,
            no_baseline_requests=metrics.priced_requests - metrics.saving_requests,
            **unpriced,
        )
    cost = baseline.cost(
        metrics.priced_requests, metrics.priced_prompt_tokens, metrics.priced_completion_tokens
    )
    return SavingsTotals(
        priced_requests=metrics.priced_requests,
        cost_usd=metrics.cost_usd,
        baseline_cost_usd=cost,
        saving_usd=cost - metrics.cost_usd,
        **unpriced,
    )


@dataclass(frozen=True, slots=True)
class RequestSaving:
    """One request's saving; None where a price is unknown."""

    event_id: str
    request_id: str
    time: datetime
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    baseline_cost_usd: float | None

    @property
    def saving_usd(self) -> float | None:
        if self.cost_usd is None or self.baseline_cost_usd is None:
            return None
        return self.baseline_cost_usd - self.cost_usd


def request_saving(row: RequestSaving, baseline: Baseline | None) -> RequestSaving:
    """`row` as recorded, or priced on `baseline` when one is given."""
    if baseline is None:
        return row
    cost = baseline.cost(1, row.prompt_tokens, row.completion_tokens)
    return dataclasses.replace(row, baseline_cost_usd=cost)
