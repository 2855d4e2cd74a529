"""The analytics composition root: settings in, a running AnalyticsService out.

`build(settings, suite)` wires the parts; `App.start()` opens the store (PostgreSQL when
DATABASE_URL is set, else SQLite under the data dir), migrates it, starts the background
work (roll-ups, retention) and the gRPC server; `App.stop()` ends live watches and feeds, drains the
server, rolls up what is pending and closes the store. Tests pass their own suite
settings (address 127.0.0.1:0, a throwaway schema), their own store or clock instead of
monkeypatching.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from freeway.analytics.v1 import analytics_pb2_grpc
from services.analytics.config import AnalyticsSettings, analytics_settings, sqlite_path
from services.analytics.feed import UsageFeed
from services.analytics.live import LiveMetrics
from services.analytics.maintenance import Maintenance
from services.analytics.prometheus import IngestMetrics
from services.analytics.servicer import SERVICE_NAME, AnalyticsServicer
from services.analytics.store import UsageStore, open_usage_store
from services.shared.logs import configure
from services.shared.metrics import MetricsServer, metrics_address
from services.shared.server import Registration, RunningServer, start_server, wait_for_signal
from services.shared.settings import SuiteSettings, service_settings

log = logging.getLogger("freeway.analytics")


@dataclass
class App:
    """The analytics service: its store and its server. The app owns the store it holds
    (also one handed to `build`) and closes it on `stop()`."""

    settings: AnalyticsSettings
    suite: SuiteSettings
    store: UsageStore | None = None
    clock: Callable[[], float] = time.time
    server: RunningServer | None = None
    live: LiveMetrics = field(init=False)
    feed: UsageFeed = field(init=False)
    maintenance: Maintenance | None = None
    metrics: IngestMetrics = field(default_factory=IngestMetrics)
    metrics_server: MetricsServer | None = None

    def __post_init__(self) -> None:
        self.live = LiveMetrics(self.clock)
        self.feed = UsageFeed()

    async def start(self) -> RunningServer:
        """Open and migrate the store (unless one was given), start its background work,
        then serve on the suite's analytics address."""
        if self.store is None:
            self.store = await open_usage_store(
                self.suite.database_url,
                sqlite_path(self.suite),
                max_batch_events=self.settings.max_batch_events,
                retention=self.settings.retention,
                clock=self.clock,
            )
        self.maintenance = Maintenance(
            self.store, self.settings.roll_up_interval_s, self.settings.prune_interval_s
        )
        self.maintenance.start()
        try:
            self.metrics_server = MetricsServer(
                "analytics", self.metrics.registry, self.suite.metrics_token
            )
            await self.metrics_server.start(
                metrics_address(self.suite.analytics_addr, self.suite.analytics_metrics_port)
            )
            self.server = await start_server(
                "analytics",
                self.suite.analytics_addr,
                [self._registration()],
                token=self.suite.service_token,
            )
        except BaseException:
            await self._stop_metrics()
            await self.maintenance.stop()
            await self.close_store()
            raise
        return self.server

    @property
    def port(self) -> int:
        """The bound port (useful when listening on port 0)."""
        if self.server is None:
            raise RuntimeError("analytics app is not started")
        return self.server.port

    async def stop(self) -> None:
        """End live watches, drain and stop the server, roll up, close the store."""
        await self.live.close()
        self.feed.close()
        if self.server is not None:
            await self.server.stop(self.settings.shutdown_grace_s)
            self.server = None
        await self._stop_metrics()
        if self.maintenance is not None:
            await self.maintenance.stop()
            self.maintenance = None
        await self.close_store()

    async def _stop_metrics(self) -> None:
        if self.metrics_server is not None:
            await self.metrics_server.stop()
            self.metrics_server = None

    async def close_store(self) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None

    def _registration(self) -> Registration:
        assert self.store is not None
        return Registration(
            analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
            AnalyticsServicer(
                self.store,
                self.settings.ingest_depth,
                self.live,
                metrics=self.metrics,
                feed=self.feed,
            ),
            SERVICE_NAME,
        )


def build(
    settings: AnalyticsSettings,
    suite: SuiteSettings,
    *,
    store: UsageStore | None = None,
    clock: Callable[[], float] = time.time,
) -> App:
    """An unstarted app; `store` replaces the one `start()` would open, `clock` the wall
    clock (for the live metrics and retention)."""
    return App(settings, suite, store, clock)


async def main() -> None:
    """`python -m services.analytics`: serve until SIGTERM / SIGINT."""
    configure("analytics")
    settings, suite = analytics_settings(), service_settings()
    app = build(settings, suite)
    try:
        await app.start()
        await wait_for_signal()
    finally:
        await app.stop()
