"""Composition root of the catalog service (STYLE.md §6): builds the store, catalogue,
poller, leadership, webhooks, alerts and servicer from config. Tests build it the same way and
override parts (providers, env, HTTP client, leadership) instead of monkeypatching.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from freeway.catalog.v1 import catalog_pb2_grpc
from services.catalog.alert_store import AlertStore
from services.catalog.alerting import AlertCenter
from services.catalog.catalogue import Catalogue
from services.catalog.config import CatalogSettings, catalog_settings
from services.catalog.fetch import Limits
from services.catalog.leadership import Leadership, NeverLeader, PgLeadership, SoloLeadership
from services.catalog.metrics import CatalogMetrics
from services.catalog.poller import Poller
from services.catalog.pricing import PriceCatalogue, load_price_files
from services.catalog.relay import PgRelay, Relay
from services.catalog.replica import Replica
from services.catalog.schedule import Timing
from services.catalog.servicer import SERVICE_NAME, CatalogServicer
from services.catalog.store import CatalogStore
from services.catalog.webhooks import DeliveryPolicy, WebhookOutbox
from services.shared import logs
from services.shared.db import Database, open_database
from services.shared.metrics import MetricsServer, metrics_address
from services.shared.providers import ProviderConfig, load_providers
from services.shared.redact import protect_providers
from services.shared.server import Registration, RunningServer, start_server, wait_for_signal
from services.shared.settings import SuiteSettings, service_settings

log = logging.getLogger("freeway.catalog")

NAME = "catalog"


@dataclass
class App:
    """Everything one catalog process runs; `start()` serves, `stop()` undoes it all."""

    settings: CatalogSettings
    suite: SuiteSettings
    db: Database
    store: CatalogStore
    catalogue: Catalogue
    replica: Replica
    servicer: CatalogServicer
    client: httpx.AsyncClient
    webhooks: WebhookOutbox
    alerts: AlertCenter
    owns_client: bool = True
    metrics: CatalogMetrics = field(default_factory=CatalogMetrics)
    server: RunningServer | None = field(default=None, init=False)
    metrics_server: MetricsServer | None = field(default=None, init=False)

    @property
    def port(self) -> int:
        assert self.server is not None, "App.start() first"
        return self.server.port

    @property
    def address(self) -> str:
        host = self.suite.catalog_addr.rpartition(":")[0]
        return f"{host}:{self.port}"

    async def start(self, address: str | None = None) -> RunningServer:
        """Load the catalogue, start leading/following, and serve gRPC on `address`
        (default: the suite's catalog address; "127.0.0.1:0" picks a free port), with
        /metrics on the suite's metrics port of the same host."""
        served = address or self.suite.catalog_addr
        self.metrics_server = MetricsServer(NAME, self.metrics.registry, self.suite.metrics_token)
        await self.metrics_server.start(metrics_address(served, self.suite.catalog_metrics_port))
        self.webhooks.start()
        await self.replica.start()
        registration = Registration(
            catalog_pb2_grpc.add_CatalogServiceServicer_to_server, self.servicer, SERVICE_NAME
        )
        self.server = await start_server(
            NAME, served, [registration], token=self.suite.service_token
        )
        return self.server

    async def stop(self, grace: float = 5.0) -> None:
        if self.server is not None:
            await self.server.stop(grace)
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        await self.replica.stop()
        await self.webhooks.stop()
        if self.owns_client:
            await self.client.aclose()
        await self.db.close()


async def build(
    settings: CatalogSettings,
    suite: SuiteSettings,
    *,
    providers: Sequence[ProviderConfig] | None = None,
    env: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    leadership: Leadership | None = None,
) -> App:
    """Build (not start) the catalog: opens and migrates the store."""
    env = os.environ if env is None else env
    providers = list(_providers(suite) if providers is None else providers)
    protect_providers(providers, env)  # a provider echoing its key never gets it logged
    prices = _price_catalogue(settings.price_files)
    db = await open_database(suite.database_url, suite.data_dir / "catalog.sqlite3")
    try:
        store = CatalogStore(db, settings.history_retention)
        await store.migrate()
    except BaseException:
        await db.close()
        raise
    http = client or httpx.AsyncClient(follow_redirects=True, headers={"User-Agent": "freeway"})
    catalogue = Catalogue(settings.history_retention, settings.subscriber_queue)
    metrics = CatalogMetrics()
    webhooks = WebhookOutbox(
        settings.webhooks,
        http,
        AlertStore(db, settings.alert_retention, settings.webhook_queue),
        _delivery_policy(settings),
    )
    alert_center = AlertCenter(
        webhooks.store, webhooks, settings.alert_down_after, settings.follower_sync_s
    )
    poller = Poller(
        providers,
        env,
        http,
        store,
        catalogue,
        settings.misses_before_removal,
        Limits(settings.max_pages, settings.max_body_bytes),
        on_changes=alert_center.changed,
        prices=prices,
        on_poll=metrics.polled,
        on_polled=alert_center.polled,
    )
    replica = Replica(
        catalogue,
        store,
        poller,
        leadership or _leadership(settings, suite, db),
        _timing(settings),
        settings.follower_sync_s,
        _relay(settings, suite, db),
        settings.refresh_timeout_s,
    )
    metrics.watch(
        catalogue,
        lambda: poller.states,
        lambda: replica.is_leader,
        lambda: webhooks.depth,
        lambda: {"delivered": webhooks.delivered, "dead": webhooks.failed},
    )
    return App(
        settings,
        suite,
        db,
        store,
        catalogue,
        replica,
        CatalogServicer(catalogue, replica, alert_center),
        http,
        webhooks,
        alert_center,
        owns_client=client is None,
        metrics=metrics,
    )


def _providers(suite: SuiteSettings) -> list[ProviderConfig]:
    providers, errors = load_providers(suite.providers_file)
    for error in errors:
        log.error("%s", error)
    return providers


def _price_catalogue(paths: Sequence[str]) -> PriceCatalogue | None:
    """The price catalogues, read once at start; a file that cannot be read is logged and
    skipped (its models stay unpriced), never a reason not to serve."""
    if not paths:
        return None
    prices, errors = load_price_files(paths)
    for error in errors:
        log.error("price catalogue skipped: %s", error)
    if prices is not None:
        log.info(
            "prices known for %d model(s) from %d of %d price file(s)",
            _size(prices),
            len(paths) - len(errors),
            len(paths),
        )
    return prices


def _size(prices: PriceCatalogue) -> int:
    return len(prices) + sum(len(c) for c in prices.fallbacks)


def _leadership(settings: CatalogSettings, suite: SuiteSettings, db: Database) -> Leadership:
    if not settings.poll:
        return NeverLeader()
    if db.dialect == "postgresql" and suite.database_url:
        return PgLeadership(suite.database_url, settings.leader_retry_s)
    return SoloLeadership()


def _relay(settings: CatalogSettings, suite: SuiteSettings, db: Database) -> Relay | None:
    """With PostgreSQL, replicas pass RefreshProvider on to the leader; with SQLite the only
    replica leads (or, with polling off, there is no leader to ask)."""
    if db.dialect == "postgresql" and suite.database_url:
        return PgRelay(suite.database_url, db, settings.leader_retry_s)
    return None


def _delivery_policy(settings: CatalogSettings) -> DeliveryPolicy:
    return DeliveryPolicy(
        attempts=settings.webhook_attempts,
        timeout_s=settings.webhook_timeout_s,
        backoff_base_s=settings.webhook_backoff_base_s,
        backoff_max_s=settings.webhook_backoff_max_s,
        secret=settings.webhook_secret,
        keep_s=settings.webhook_keep_days * 86_400.0,
    )


def _timing(settings: CatalogSettings) -> Timing:
    return Timing(
        settings.jitter_fraction,
        settings.backoff_base_s,
        settings.backoff_max_s,
        settings.min_poll_gap_s,
    )


async def main() -> None:
    """`python -m services.catalog`: serve until SIGTERM/SIGINT."""
    logs.configure(NAME)
    app = await build(catalog_settings(), service_settings())
    try:
        await app.start()
        await wait_for_signal()
    finally:
        await app.stop()
