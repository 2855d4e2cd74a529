"""The catalog's Prometheus metrics: the catalogue by provider and pricing, and each
provider's polling (counted as polls end; state read from the poller when scraped).

Labels are providers of the providers file and a fixed pricing vocabulary: bounded."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Mapping

from services.catalog.catalogue import Catalogue
from services.catalog.records import ModelRecord
from services.catalog.status import ProviderState
from services.shared.metrics import Registry, Rows, service_registry

PRICING = ("free", "paid", "unpriced")


def pricing(record: ModelRecord) -> str:
    """free (is_free, for any reason), paid (a known price), or unpriced (no known price)."""
    if record.is_free:
        return "free"
    return "paid" if record.priced else "unpriced"


class CatalogMetrics:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or service_registry("catalog")
        self.polls = self.registry.counter(
            "freeway_catalog_polls_total", "Polls of a provider's model list", ("provider",)
        )
        self.poll_errors = self.registry.counter(
            "freeway_catalog_poll_errors_total",
            "Polls of a provider's model list that failed",
            ("provider",),
        )

    def polled(self, provider: str, ok: bool) -> None:
        self.polls.labels(provider).inc()
        if not ok:
            self.poll_errors.labels(provider).inc()

    def watch(
        self,
        catalogue: Catalogue,
        states: Callable[[], Mapping[str, ProviderState]],
        leading: Callable[[], bool],
        outbox: Callable[[], Mapping[str, int]] = dict,
        deliveries: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        """Declare the metrics read at scrape time."""

        def models() -> Rows:
            tally = Tally((e.record.provider, pricing(e.record)) for e in catalogue.select())
            for provider in {p for p, _ in tally} | set(states()):
                for kind in PRICING:
                    yield (provider, kind), float(tally.get((provider, kind), 0))

        def up() -> Rows:
            for name, state in states().items():
                yield (name,), 1.0 if state.healthy else 0.0

        def last_success() -> Rows:
            for name, state in states().items():
                if state.last_success is not None:
                    yield (name,), state.last_success

        r = self.registry
        r.sampled(
            "freeway_catalog_models",
            "Models in the catalogue, by provider and pricing (free, paid, unpriced)",
            ("provider", "pricing"),
            models,
        )
        r.sampled(
            "freeway_catalog_provider_up",
            "1 when the provider's last poll succeeded",
            ("provider",),
            up,
        )
        r.sampled(
            "freeway_catalog_last_successful_poll_timestamp_seconds",
            "When the provider's model list was last read successfully (epoch seconds)",
            ("provider",),
            last_success,
        )
        r.sampled(
            "freeway_catalog_version",
            "The catalogue version",
            (),
            lambda: [((), catalogue.version)],
        )
        r.sampled(
            "freeway_catalog_webhook_outbox_rows",
            "Webhook outbox rows by state (pending, delivered, dead)",
            ("state",),
            lambda: [((state,), float(n)) for state, n in sorted(outbox().items())],
        )
        r.sampled(
            "freeway_catalog_webhook_deliveries_total",
            "Webhook rows this replica delivered, or gave up on (dead)",
            ("result",),
            lambda: [((result,), float(n)) for result, n in sorted(deliveries().items())],
            kind="counter",
        )
        r.sampled(
            "freeway_catalog_leader",
            "1 when this replica polls (the leader), 0 for a standby",
            (),
            lambda: [((), 1.0 if leading() else 0.0)],
        )
