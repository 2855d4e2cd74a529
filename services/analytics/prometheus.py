"""Analytics' Prometheus metrics: usage ingested (stored, or replays counted as
duplicates), batches being stored, how long storing takes, and how old events are when
they are stored (the ingest lag). `services/analytics/metrics.py` is the live aggregates
of WatchMetrics; this is what Prometheus scrapes."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.analytics.ingest import BatchStore
from services.analytics.usage import StoreResult, UsageBatch
from services.shared.metrics import Registry, service_registry

# Ingest lag: a live router sends within a second; a replayed spool may be hours behind.
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)


class IngestMetrics:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = r = registry or service_registry("analytics")
        events = r.counter(
            "freeway_analytics_events_ingested_total",
            "Usage events received through Ingest: stored, or already stored (duplicate)",
            ("result",),
        )
        self.stored = events.labels("stored")
        self.duplicates = events.labels("duplicate")
        self.batches = r.counter("freeway_analytics_ingest_batches_total", "Batches stored")
        self.failures = r.counter(
            "freeway_analytics_ingest_failures_total",
            "Batches refused as invalid or not stored",
            ("reason",),
        )
        self.inflight = r.gauge(
            "freeway_analytics_ingest_batches_in_flight", "Batches being stored right now"
        )
        self.store_duration = r.histogram(
            "freeway_analytics_ingest_store_duration_seconds", "Time to store one batch durably"
        )
        self.lag = r.histogram(
            "freeway_analytics_ingest_lag_seconds",
            "Age of a batch's oldest new event when stored (time of the request to commit)",
            buckets=LAG_BUCKETS,
        )
        self.last_lag = r.gauge(
            "freeway_analytics_ingest_last_lag_seconds",
            "Age of the oldest new event of the last batch stored",
        )


class MeteredStore:
    """A batch store that counts what it stores (wraps the one Ingest writes to)."""

    def __init__(
        self, store: BatchStore, metrics: IngestMetrics, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock

    def check(self, batch: UsageBatch) -> None:
        try:
            self.store.check(batch)
        except Exception:
            self.metrics.failures.labels("invalid").inc()
            raise

    async def insert(self, batch: UsageBatch) -> StoreResult:
        m = self.metrics
        m.inflight.inc()
        started = time.perf_counter()
        try:
            result = await self.store.insert(batch)
        except Exception:
            m.failures.labels("store").inc()
            raise
        finally:
            m.inflight.dec()
        m.store_duration.observe(time.perf_counter() - started)
        m.batches.inc()
        m.stored.inc(result.stored)
        m.duplicates.inc(result.duplicates)
        if result.new:
            times = batch["time"]
            oldest = min(times[i] for i in result.new).timestamp()
            lag = max(self.clock() - oldest, 0.0)
            m.lag.observe(lag)
            m.last_lag.set(lag)
        return result
