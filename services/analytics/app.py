"""The analytics composition root: settings in, a running AnalyticsService out.

`build(settings, suite)` wires the parts; `App.start()` opens the store (PostgreSQL when
DATABASE_URL is set, else SQLite under the data dir), migrates it and starts the gRPC
server; `App.stop()` undoes both. Tests pass their own suite settings (address
127.0.0.1:0, a throwaway schema) or their own store instead of monkeypatching.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from freeway.analytics.v1 import analytics_pb2_grpc
from services.analytics.config import AnalyticsSettings, analytics_settings, sqlite_path
from services.analytics.servicer import SERVICE_NAME, AnalyticsServicer
from services.analytics.store import UsageStore, open_usage_store
from services.shared.logs import configure
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
    server: RunningServer | None = None

    async def start(self) -> RunningServer:
        """Open and migrate the store (unless one was given), then serve on the suite's
        analytics address."""
        if self.store is None:
            self.store = await open_usage_store(
                self.suite.database_url,
                sqlite_path(self.suite),
                max_batch_events=self.settings.max_batch_events,
            )
        try:
            self.server = await start_server(
                "analytics",
                self.suite.analytics_addr,
                [self._registration()],
                token=self.suite.service_token,
            )
        except BaseException:
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
        """Drain and stop the server, then close the store."""
        if self.server is not None:
            await self.server.stop(self.settings.shutdown_grace_s)
            self.server = None
        await self.close_store()

    async def close_store(self) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None

    def _registration(self) -> Registration:
        assert self.store is not None
        return Registration(
            analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
            AnalyticsServicer(self.store, self.settings.ingest_depth),
            SERVICE_NAME,
        )


def build(
    settings: AnalyticsSettings, suite: SuiteSettings, *, store: UsageStore | None = None
) -> App:
    """An unstarted app; `store` replaces the one `start()` would open."""
    return App(settings, suite, store)


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
