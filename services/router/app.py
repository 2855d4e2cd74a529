"""The router's composition root: builds every part from settings; tests override parts.

`build(settings, suite)` returns an `App` whose `start()` begins watching the catalog,
starts the usage reporter and serves RouterService (with health and reflection); `stop()`
drains the server, then sends what usage it can (the rest stays spooled) and closes every client.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import grpc

from freeway.router.v1 import router_pb2_grpc
from services.router import strategies
from services.router.alert_reporter import AlertReporter
from services.router.breaker import BreakerPolicy, HealthBoard
from services.router.cache import MemoryStore, RedisStore, ResponseCache, Store
from services.router.config import RouterSettings, load_settings
from services.router.execution import ExecutionPolicy, Executor
from services.router.http1 import Http1Client
from services.router.metrics import MeteredSink, RouterMetrics
from services.router.pipeline import Pipeline
from services.router.quota import QuotaLedger
from services.router.quota_alarm import QuotaAlarm
from services.router.quota_sync import RedisQuotaSync
from services.router.reporter import ReporterPolicy, UsageReporter
from services.router.routing import Router
from services.router.servicer import SERVICE_NAME, RouterServicer
from services.router.snapshot import CatalogWatcher, WatchPolicy
from services.router.spool import Spool
from services.router.upstream import HttpUpstream, ProviderDirectory, http_session
from services.router.usage import Prices
from services.router.weights import WeightsWatcher
from services.shared.channels import channel
from services.shared.logs import configure
from services.shared.metrics import MetricsServer, metrics_address
from services.shared.providers import load_providers
from services.shared.redact import protect_providers
from services.shared.server import Registration, RunningServer, start_server, wait_for_signal
from services.shared.settings import SuiteSettings, service_settings

log = logging.getLogger("freeway.router")


@dataclass
class App:
    """Every long-lived part of a router process."""

    settings: RouterSettings
    suite: SuiteSettings
    board: HealthBoard
    router: Router
    directory: ProviderDirectory
    http: Http1Client
    pipeline: Pipeline
    servicer: RouterServicer
    catalog_channel: grpc.aio.Channel
    analytics_channel: grpc.aio.Channel
    watcher: CatalogWatcher
    reporter: UsageReporter
    quota: QuotaLedger | None = None
    quota_sync: RedisQuotaSync | None = None
    alerts: AlertReporter | None = None
    cache: ResponseCache | None = None
    weights: WeightsWatcher | None = None
    metrics: RouterMetrics = field(default_factory=RouterMetrics)
    metrics_server: MetricsServer | None = field(default=None)
    server: RunningServer | None = field(default=None)

    async def start(self, address: str | None = None) -> RunningServer:
        """Watch the catalog, start reporting, and serve on `address` (default: the suite's),
        with /metrics on the suite's router metrics port of the same host."""
        served = address or self.suite.router_addr
        self.metrics_server = MetricsServer(
            "router", self.metrics.registry, self.suite.metrics_token
        )
        await self.metrics_server.start(metrics_address(served, self.suite.router_metrics_port))
        self.watcher.start()
        self.reporter.start()
        if self.weights is not None:
            self.weights.start()
        if self.quota_sync is not None:
            self.quota_sync.start()
        if self.alerts is not None:
            self.alerts.start()
        registration = Registration(
            router_pb2_grpc.add_RouterServiceServicer_to_server, self.servicer, SERVICE_NAME
        )
        self.server = await start_server(
            "router",
            served,
            [registration],
            token=self.suite.service_token,
        )
        return self.server

    @property
    def port(self) -> int:
        if self.server is None:
            raise RuntimeError("the router is not started")
        return self.server.port

    async def stop(self, grace_s: float | None = None) -> None:
        """Drain calls, stop watching, send what usage it can (the rest stays spooled), close."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        if self.server is not None:
            self.servicer.drain.start()  # Exchange streams stop taking calls and wind down
            await self.server.stop(grace)
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        await self.watcher.stop()
        if self.weights is not None:
            await self.weights.stop()
        await self.reporter.close(grace)
        if self.quota_sync is not None:
            await self.quota_sync.close()
        if self.alerts is not None:
            await self.alerts.close()
        if self.cache is not None:
            await self.cache.close()
        await self.http.close()
        await self.catalog_channel.close()
        await self.analytics_channel.close()


def build(
    settings: RouterSettings,
    suite: SuiteSettings,
    *,
    env: Mapping[str, str] | None = None,
    http: Http1Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    sighup: bool = False,
) -> App:
    """Wire the router from settings. Call inside the event loop that will run it;
    `sighup`: a SIGHUP re-reads the weights file (the process's own main loop only)."""
    directory = _directory(suite, os.environ if env is None else env)
    quota = QuotaLedger(wall_clock) if settings.quota else None
    quota_sync = _quota_sync(quota, settings, suite)
    board = HealthBoard(
        BreakerPolicy(
            settings.breaker_failures, settings.breaker_cooldown_s, settings.breaker_max_cooldown_s
        ),
        clock,
    )
    router = Router(
        board,
        candidates=settings.candidates,
        default_strategy=settings.strategy_number,
        allow_paid=settings.allow_paid,
        unknown_context=settings.unknown_context,
        can_call=directory.can_call,
        weights_file=settings.weights_file,
        clock=clock,
        quota=quota,
    )
    client = http if http is not None else http_session()
    executor = Executor(
        HttpUpstream(client, directory, settings.connect_timeout_s),
        board,
        ExecutionPolicy(
            attempt_timeout_s=settings.attempt_timeout_s,
            max_attempts=settings.max_attempts,
            hedge_floor_s=settings.hedge_floor_s,
            hedge_cold_s=settings.hedge_cold_s,
            retry_after_default_s=settings.retry_after_default_s,
            retry_after_max_s=settings.retry_after_max_s,
        ),
        clock,
        quota,
    )
    analytics_channel = channel(suite.analytics_addr, suite.service_token)
    reporter = UsageReporter(
        analytics_channel,
        Spool(settings.spool_path(suite), max_bytes=settings.usage_spool_max_bytes),
        ReporterPolicy(
            batch_size=settings.usage_batch_size,
            flush_interval_s=settings.usage_flush_interval_s,
            fsync_interval_s=settings.usage_fsync_s,
        ),
    )
    baseline = Prices(settings.baseline_input_per_mtok, settings.baseline_output_per_mtok)
    cache = _cache(settings, suite)
    metrics = RouterMetrics()
    metrics.watch(router, board, _provider_list(suite, directory), quota, reporter)
    pipeline = Pipeline(
        router,
        executor,
        MeteredSink(reporter, metrics),
        baseline,
        clock,
        quota,
        cache,
        settings.keep_features,
    )
    catalog_channel = channel(suite.catalog_addr, suite.service_token)
    alerts = _alerts(quota, settings, catalog_channel)
    return App(
        settings=settings,
        suite=suite,
        board=board,
        router=router,
        directory=directory,
        http=client,
        pipeline=pipeline,
        servicer=RouterServicer(pipeline),
        catalog_channel=catalog_channel,
        analytics_channel=analytics_channel,
        watcher=CatalogWatcher(catalog_channel, router, WatchPolicy()),
        reporter=reporter,
        quota=quota,
        quota_sync=quota_sync,
        alerts=alerts,
        cache=cache,
        weights=WeightsWatcher(router, settings.weights_check_s, sighup=sighup),
        metrics=metrics,
    )


def _provider_list(
    suite: SuiteSettings, directory: ProviderDirectory
) -> Callable[[], list[tuple[str, bool]]]:
    """(name, callable) of every configured provider, for the provider_up gauge."""
    names = sorted({*directory.names, *directory.unusable})
    listed = [(name, directory.can_call(name)) for name in names]
    return lambda: listed


def _cache(settings: RouterSettings, suite: SuiteSettings) -> ResponseCache | None:
    """The response cache: in Redis when configured (every replica shares it), else here."""
    if not settings.cache:
        return None
    store: Store = (
        RedisStore.from_url(suite.redis_url)
        if suite.redis_url
        else MemoryStore(max_entries=settings.cache_max_entries)
    )
    return ResponseCache(store, settings.cache_ttl_s, settings.cache_prefix)


def _quota_sync(
    quota: QuotaLedger | None, settings: RouterSettings, suite: SuiteSettings
) -> RedisQuotaSync | None:
    """Shared free-tier counts through Redis when configured (else per process)."""
    if quota is None or not suite.redis_url:
        return None
    return RedisQuotaSync.from_url(
        quota, suite.redis_url, prefix=settings.quota_prefix, interval_s=settings.quota_sync_s
    )


def _alerts(
    quota: QuotaLedger | None, settings: RouterSettings, catalog: grpc.aio.Channel
) -> AlertReporter | None:
    """QUOTA_LOW alerts to the catalog, when quotas are counted and shares are set."""
    if quota is None or not settings.quota_alerts:
        return None
    reporter = AlertReporter(catalog, settings.quota_alert_queue)
    quota.alarm = QuotaAlarm(settings.quota_alerts, reporter.crossed)
    return reporter


def _directory(suite: SuiteSettings, env: Mapping[str, str]) -> ProviderDirectory:
    providers, errors = load_providers(suite.providers_file)
    for error in errors:
        log.warning("providers file: %s", error)
    protect_providers(providers, env)  # a provider echoing its key never gets it out
    directory = ProviderDirectory(providers, env)
    if directory.unusable:
        log.info(
            "providers not callable (disabled or no API key): %s", ", ".join(directory.unusable)
        )
    return directory


def _quota_mode(app: App) -> str:
    if app.quota is None:
        return "off"
    return "shared through Redis" if app.quota_sync is not None else "per process"


async def main() -> None:
    """Run the router until SIGTERM / SIGINT."""
    configure("router")
    suite = service_settings()
    settings = load_settings()
    app = build(settings, suite, sighup=True)
    try:
        await app.start()
    except BaseException:
        await app.stop()
        raise
    log.info(
        "router: strategy %s, %d candidates, paid models %s, baseline %s, free-tier quota %s",
        strategies.strategy_name(settings.strategy_number),
        settings.candidates,
        "allowed" if settings.allow_paid else "off",
        settings.baseline_model,
        _quota_mode(app),
    )
    try:
        await wait_for_signal()
    finally:
        await app.stop()
