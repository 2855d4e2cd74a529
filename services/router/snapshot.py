"""The router's catalogue snapshot, kept current from CatalogService.WatchCatalog.

A background task reads the stream (asking for changes since the last version it holds),
applies each snapshot or change to the in-memory catalogue and republishes the routing
table. A burst of changes is applied as it arrives but published once, a moment later.
When the catalog is down the task reconnects with backoff; routing meanwhile keeps using
the last table it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import grpc

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.router import wire
from services.router.catalogue import CatalogueState
from services.router.routing import Router

log = logging.getLogger("freeway.router.catalog")


@dataclass(frozen=True)
class WatchPolicy:
    publish_delay_s: float = 0.02  # how long a burst of changes may gather before publishing
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0


class CatalogWatcher:
    """Consumes WatchCatalog into `router`; `ready` is set once a first catalogue is published."""

    def __init__(self, channel: grpc.aio.Channel, router: Router, policy: WatchPolicy) -> None:
        self.stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self.router = router
        self.policy = policy
        self.state = CatalogueState()
        self.ready = asyncio.Event()
        self.connected = False
        self._publish: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="catalog-watch")

    async def stop(self) -> None:
        if self._publish is not None:
            self._publish.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for_version(self, version: int) -> None:
        """Return once the published table is at `version` or later (tests, start-up)."""
        while self.router.version < version:
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        backoff = self.policy.backoff_initial_s
        failures = 0
        while True:
            try:
                await self._watch()
            except grpc.aio.AioRpcError as exc:
                # the first failure of a streak is worth a warning; its repeats are not
                level = logging.WARNING if failures == 0 else logging.DEBUG
                log.log(
                    level,
                    "catalog watch: %s: %s (routing on catalogue v%d; retrying)",
                    exc.code().name,
                    exc.details(),
                    self.state.version,
                )
            else:
                log.info("catalog watch stream closed by the catalog")
            if self.connected:
                backoff, failures = self.policy.backoff_initial_s, 0
            else:
                failures += 1
            self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.policy.backoff_max_s)

    async def _watch(self) -> None:
        request = catalog_pb2.WatchCatalogRequest(since_version=self.state.version)
        call = self.stub.WatchCatalog(request)
        try:
            async for event in call:
                if not self.connected:
                    self.connected = True
                    log.info("watching the catalog from version %d", self.state.version)
                self._apply(event)
        finally:
            call.cancel()

    def _apply(self, event: catalog_pb2.CatalogEvent) -> None:
        kind = event.WhichOneof("kind")
        if kind == "snapshot":
            self.state.replace((wire.model_info(m) for m in event.snapshot.models), event.version)
            self._publish_now()
            log.info("catalog snapshot v%d: %d models", event.version, len(self.state.models))
        elif kind == "change" and self._change(event.change, event.version):
            self._publish_soon()

    def _change(self, change: catalog_pb2.ModelChange, version: int) -> bool:
        if change.type == catalog_pb2.CHANGE_TYPE_REMOVED:
            return self.state.remove(change.model_id, version)
        if change.HasField("new"):
            return self.state.upsert(wire.model_info(change.new), version)
        log.warning("catalog change v%d for %s has no new model; ignored", version, change.model_id)
        return False

    def _publish_soon(self) -> None:
        if self._publish is None:
            loop = asyncio.get_running_loop()
            self._publish = loop.call_later(self.policy.publish_delay_s, self._publish_now)

    def _publish_now(self) -> None:
        if self._publish is not None:
            self._publish.cancel()
            self._publish = None
        self.router.install(self.state.models.values(), self.state.version)
        self.ready.set()
