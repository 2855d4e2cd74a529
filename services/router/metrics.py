"""The router's Prometheus metrics: what every request did (counted from its usage record,
the one place every request passes, success or failure), and the health, quota and spool
state read only when scraped.

Labels stay bounded: model and provider come from the catalogue (never from the caller's
text: a request for an unknown model is counted under the model it was served by, or
"none"), strategy and status from fixed vocabularies. Request ids, key ids and teams are
never labels: key ids grow with every key issued, and per-key usage is analytics' job.
Histograms carry provider and status only, not model: each series is fifteen buckets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from services.router.breaker import OPEN, HealthBoard
from services.router.catalogue import ModelInfo
from services.router.quota import QuotaLedger
from services.router.strategies import strategy_name
from services.router.usage import Status, UsageRecord, UsageSink
from services.shared.metrics import (
    CounterChild,
    HistogramChild,
    Registry,
    Rows,
    service_registry,
)

NONE = "none"
STATUS_NAMES = {int(status): status.name.lower() for status in Status}
TOKEN_KINDS = ("prompt", "completion")


class Models(Protocol):
    """The router's current catalogue (routing.Router)."""

    @property
    def models(self) -> tuple[ModelInfo, ...]: ...


class Spooled(Protocol):
    """The usage reporter, as the metrics read it."""

    acknowledged: int

    @property
    def pending_bytes(self) -> int: ...

    def lag_s(self) -> float: ...


class _Series:
    """The counters of one (model, provider, strategy, status), found with one lookup."""

    __slots__ = ("completion", "cost", "prompt", "requests", "saving", "unpriced")

    def __init__(self, m: RouterMetrics, model: str, provider: str, key: tuple[str, ...]) -> None:
        self.requests: CounterChild = m.requests.labels(*key)
        self.prompt: CounterChild = m.tokens.labels(model, provider, "prompt")
        self.completion: CounterChild = m.tokens.labels(model, provider, "completion")
        status = key[3]
        self.cost: CounterChild = m.cost.labels(model, provider, status)
        self.saving: CounterChild = m.saving.labels(model, provider, status)
        self.unpriced: CounterChild = m.unpriced.labels(model, provider)


class RouterMetrics:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or service_registry("router")
        r = self.registry
        self.requests = r.counter(
            "freeway_router_requests_total",
            "Completion requests, by the model and provider that served them (none: no model"
            " answered), strategy and status",
            ("model", "provider", "strategy", "status"),
        )
        self.duration = r.histogram(
            "freeway_router_request_duration_seconds",
            "Time from a completion request's arrival to its last byte",
            ("provider", "status"),
        )
        self.ttft = r.histogram(
            "freeway_router_time_to_first_token_seconds",
            "Time from a streamed request's arrival to its first content",
            ("provider",),
        )
        self.tokens = r.counter(
            "freeway_router_tokens_total",
            "Tokens of served requests, prompt or completion",
            ("model", "provider", "kind"),
        )
        self.cost = r.counter(
            "freeway_router_cost_usd_total",
            "What served requests cost in USD (unpriced ones are not in it: see"
            " freeway_router_unpriced_requests_total)",
            ("model", "provider", "status"),
        )
        self.saving = r.counter(
            "freeway_router_saving_usd_total",
            "What the same tokens would have cost on the baseline model, less what they cost",
            ("model", "provider", "status"),
        )
        self.unpriced = r.counter(
            "freeway_router_unpriced_requests_total",
            "Served requests whose model's price is unknown (never counted as $0)",
            ("model", "provider"),
        )
        self.cache_hits = r.counter(
            "freeway_router_cache_hits_total", "Requests answered from the response cache"
        )
        self.attempts = r.counter(
            "freeway_router_attempts_total", "Provider attempts, fallbacks and hedges included"
        )
        self._series: dict[tuple[str, str, int, int], _Series] = {}
        self._durations: dict[tuple[str, int], HistogramChild] = {}

    def record(self, record: UsageRecord) -> None:
        """Count one request (its usage record). On the hot path: a few dict lookups."""
        provider = record.provider or NONE
        key = (record.served_model, provider, record.strategy, record.status)
        series = self._series.get(key)
        if series is None:
            series = self._new_series(key)
        series.requests.inc()
        series.prompt.value += record.prompt_tokens
        series.completion.value += record.completion_tokens
        cost = record.cost_usd
        if cost is None:
            series.unpriced.value += 1
        else:
            series.cost.value += cost
            if record.baseline_cost_usd is not None:
                series.saving.value += record.baseline_cost_usd - cost
        duration = self._durations.get((provider, record.status))
        if duration is None:
            duration = self._durations[(provider, record.status)] = self.duration.labels(
                provider, STATUS_NAMES.get(record.status, "unknown")
            )
        duration.observe(record.latency_ms / 1000)
        if record.stream and record.ttft_ms > 0:
            self.ttft.labels(provider).observe(record.ttft_ms / 1000)
        if record.cache_hit:
            self.cache_hits.inc()
        self.attempts.inc(record.attempts)

    def _new_series(self, key: tuple[str, str, int, int]) -> _Series:
        model, provider, strategy, status = key
        labels = (
            model or NONE,
            provider,
            strategy_name(strategy),
            STATUS_NAMES.get(status, "unknown"),
        )
        series = self._series[key] = _Series(self, labels[0], provider, labels)
        return series

    def watch(
        self,
        models: Models,
        board: HealthBoard,
        providers: Callable[[], list[tuple[str, bool]]],
        quota: QuotaLedger | None,
        reporter: Spooled,
    ) -> None:
        """Declare the metrics read at scrape time from the router's live state."""
        r = self.registry

        def provider_up() -> Rows:
            open_models = board.abnormal()
            by_provider: dict[str, list[bool]] = {}
            for model in models.models:
                by_provider.setdefault(model.provider, []).append(open_models.get(model.id) == OPEN)
            for name, callable_ in providers():
                states = by_provider.get(name, [])
                up = callable_ and not (states and all(states))
                yield (name,), 1.0 if up else 0.0

        def breakers() -> Rows:
            known = {m.id: m.provider for m in models.models}
            for model_id, state in sorted(board.abnormal().items()):
                yield (known.get(model_id, NONE), model_id), float(state)

        def open_breakers() -> Rows:
            counts = {name: 0 for name, _ in providers()}
            known = {m.id: m.provider for m in models.models}
            for model_id, state in board.abnormal().items():
                if state == OPEN:
                    provider = known.get(model_id, NONE)
                    counts[provider] = counts.get(provider, 0) + 1
            for name, count in counts.items():
                yield (name,), float(count)

        def quota_left() -> Rows:
            if quota is None:
                return
            for model in models.models:
                if model.free_tier.stated:
                    left = quota.remaining(model)
                    if not math.isinf(left):
                        yield (model.provider, model.id), min(max(left, 0.0), 1.0)

        def catalogue() -> Rows:
            yield (), float(len(models.models))

        r.sampled(
            "freeway_router_provider_up",
            "1 when the router can call the provider (key present) and not every one of its"
            " models' breakers is open",
            ("provider",),
            provider_up,
        )
        r.sampled(
            "freeway_router_breaker_state",
            "Models whose breaker is not closed: 1 half-open, 2 open (a closed one is absent)",
            ("provider", "model"),
            breakers,
        )
        r.sampled(
            "freeway_router_breakers_open",
            "Models of the provider whose breaker is open (or held after a 429)",
            ("provider",),
            open_breakers,
        )
        r.sampled(
            "freeway_router_free_quota_remaining_ratio",
            "Share of the free-tier quota left in its tightest window (minute or day), per"
            " model that states limits",
            ("provider", "model"),
            quota_left,
        )
        r.sampled(
            "freeway_router_catalogue_models",
            "Models in the router's catalogue snapshot",
            (),
            catalogue,
        )
        r.sampled(
            "freeway_router_usage_spool_bytes",
            "Usage events written to the spool and not yet acknowledged by analytics",
            (),
            lambda: [((), float(reporter.pending_bytes))],
        )
        r.sampled(
            "freeway_router_usage_lag_seconds",
            "Seconds since analytics last acknowledged usage while some waits (0: none waits)",
            (),
            lambda: [((), reporter.lag_s())],
        )
        r.sampled(
            "freeway_router_usage_acknowledged_total",
            "Usage events analytics acknowledged as stored",
            (),
            lambda: [((), float(reporter.acknowledged))],
            "counter",
        )


class MeteredSink:
    """A usage sink that counts every record it takes (after the inner sink took it)."""

    def __init__(self, inner: UsageSink, metrics: RouterMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def admit(self) -> None:
        self.inner.admit()

    def submit(self, record: UsageRecord) -> None:
        self.inner.submit(record)
        self.metrics.record(record)
