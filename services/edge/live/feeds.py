"""What feeds each topic: one gRPC subscription (or poll) per topic per edge process,
shared by every WebSocket client, started by the hub when a topic gets its first
subscriber and stopped after its last.

- `catalog`: CatalogService.WatchCatalog, from a snapshot (announced as a `snapshot`
  event: a client that was connected before may have missed changes) then each change;
- `metrics`: AnalyticsService.WatchMetrics, the live aggregates every second;
- `requests`: AnalyticsService.WatchUsage, each routed request once stored;
- `providers`: CatalogService.ListProviders and RouterService.ProviderHealth, polled,
  published only when something changed.

A stream that fails or ends is opened again after a backoff (0.2 s doubling to 10 s, with
jitter); subscribers see `status` frames: `reconnecting` (with why), then `live`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc

from freeway.analytics.v1 import analytics_pb2
from freeway.catalog.v1 import catalog_pb2
from freeway.router.v1 import router_pb2
from services.edge.live import frames
from services.edge.live.hub import Feed, Hub
from services.shared.channels import call_metadata

if TYPE_CHECKING:
    from freeway.analytics.v1.analytics_pb2_grpc import AnalyticsServiceAsyncStub
    from freeway.catalog.v1.catalog_pb2_grpc import CatalogServiceAsyncStub
    from freeway.router.v1.router_pb2_grpc import RouterServiceAsyncStub

log = logging.getLogger("freeway.edge.live")

LIVE, RECONNECTING = "live", "reconnecting"


class Backoff:
    """Delays between reconnections: doubling from `first` up to `most`, jittered."""

    def __init__(self, first: float = 0.2, most: float = 10.0) -> None:
        self.first, self.most = first, most
        self.failures = 0

    def next(self) -> float:
        delay = min(self.most, self.first * float(2**self.failures))
        self.failures += 1
        jitter: float = random.uniform(0.5, 1.0)
        return delay * jitter

    def reset(self) -> None:
        self.failures = 0


class LoopFeed:
    """Runs `session` again and again until stopped, with a backoff after each failure."""

    def __init__(self, hub: Hub, topic: str, backoff: Backoff | None = None) -> None:
        self.hub = hub
        self.topic = topic
        self.backoff = backoff or Backoff()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"live-{self.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def session(self) -> None:
        raise NotImplementedError

    def live(self) -> None:
        """The source answers: say so, and start the next backoff from the beginning."""
        self.backoff.reset()
        self.hub.status(self.topic, LIVE)

    async def _run(self) -> None:
        while True:
            try:
                await self.session()
                detail = "the stream ended"
            except grpc.aio.AioRpcError as exc:
                detail = f"{exc.code().name}: {exc.details()}"
            except Exception:
                log.exception("live %s feed failed", self.topic)
                detail = "internal error"
            log.info("live %s feed: %s; reconnecting", self.topic, detail)
            self.hub.status(self.topic, RECONNECTING, detail)
            await asyncio.sleep(self.backoff.next())


class CatalogFeed(LoopFeed):
    def __init__(self, hub: Hub, stub: CatalogServiceAsyncStub) -> None:
        super().__init__(hub, "catalog")
        self.stub = stub

    async def session(self) -> None:
        # Always from a snapshot: a reconnected feed cannot say what it missed otherwise.
        request = catalog_pb2.WatchCatalogRequest(since_version=0)
        version = 0
        async for event in self.stub.WatchCatalog(request, metadata=call_metadata()):
            if event.WhichOneof("kind") == "snapshot":
                version = event.version
                self.live()
                self.hub.publish(self.topic, frames.catalog_snapshot(event))
            elif event.version > version:
                version = event.version
                self.hub.publish(self.topic, frames.catalog_change(event))


class RequestsFeed(LoopFeed):
    def __init__(self, hub: Hub, stub: AnalyticsServiceAsyncStub) -> None:
        super().__init__(hub, "requests")
        self.stub = stub

    async def session(self) -> None:
        call = self.stub.WatchUsage(analytics_pb2.WatchUsageRequest(), metadata=call_metadata())
        await call.initial_metadata()  # sent once analytics has registered this watcher
        self.live()
        async for notice in call:
            self.hub.publish(self.topic, frames.routed_request(notice), key_id=notice.key_id)


class MetricsFeed(LoopFeed):
    def __init__(self, hub: Hub, stub: AnalyticsServiceAsyncStub) -> None:
        super().__init__(hub, "metrics")
        self.stub = stub

    async def session(self) -> None:
        request = analytics_pb2.WatchMetricsRequest(interval_ms=1000, window_s=10)
        first = True
        async for metrics in self.stub.WatchMetrics(request, metadata=call_metadata()):
            if first:
                self.live()
                first = False
            self.hub.publish(self.topic, frames.live_metrics(metrics), retain=True)


class ProvidersFeed(LoopFeed):
    """Polls the catalog's provider status and the router's model health every
    `interval_s`; publishes (and retains) the whole picture only when it changed."""

    def __init__(
        self,
        hub: Hub,
        catalog: CatalogServiceAsyncStub,
        router: RouterServiceAsyncStub,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        super().__init__(hub, "providers")
        self.catalog, self.router = catalog, router
        self.interval_s, self.timeout_s = interval_s, timeout_s

    async def session(self) -> None:
        last: dict[str, Any] | None = None
        while True:
            picture = await self.poll()
            if picture["catalog_error"] and picture["router_error"]:
                raise ConnectionError(f"catalog: {picture['catalog_error']}")
            if picture != last:
                if last is None:
                    self.live()
                self.hub.publish(self.topic, picture, retain=True)
                last = picture
            await asyncio.sleep(self.interval_s)

    async def poll(self) -> dict[str, Any]:
        results: list[object] = await asyncio.gather(
            self.catalog.ListProviders(
                catalog_pb2.ListProvidersRequest(), timeout=self.timeout_s, metadata=call_metadata()
            ),
            self.router.ProviderHealth(
                router_pb2.ProviderHealthRequest(), timeout=self.timeout_s, metadata=call_metadata()
            ),
            return_exceptions=True,
        )
        providers, health = results
        picture: dict[str, Any] = {
            "providers": [],
            "models": [],
            "quota_counted": False,
            "catalog_error": _problem(providers),
            "router_error": _problem(health),
        }
        if isinstance(providers, catalog_pb2.ListProvidersResponse):
            picture["providers"] = [frames.provider_status(p) for p in providers.providers]
        if isinstance(health, router_pb2.ProviderHealthResponse):
            picture["models"] = [frames.model_health(m) for m in health.models]
            picture["quota_counted"] = health.quota_counted
        return picture


def _problem(result: object) -> str | None:
    if isinstance(result, grpc.aio.AioRpcError):
        return f"{result.code().name}: {result.details()}"
    if isinstance(result, BaseException):
        if not isinstance(result, Exception):
            raise result
        return type(result).__name__
    return None


def feeds(
    catalog: CatalogServiceAsyncStub,
    router: RouterServiceAsyncStub,
    analytics: AnalyticsServiceAsyncStub,
    poll_s: float,
    timeout_s: float,
) -> Mapping[str, Callable[[Hub], Feed]]:
    """What starts each topic's source (the hub calls these on a first subscriber)."""
    return {
        "catalog": lambda hub: CatalogFeed(hub, catalog),
        "metrics": lambda hub: MetricsFeed(hub, analytics),
        "requests": lambda hub: RequestsFeed(hub, analytics),
        "providers": lambda hub: ProvidersFeed(hub, catalog, router, poll_s, timeout_s),
    }
