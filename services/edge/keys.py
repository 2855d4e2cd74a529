"""The typed keys of the edge's application and requests (STYLE.md §8)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.edge.auth import Caller
from services.edge.config import EdgeSettings

if TYPE_CHECKING:
    from freeway.catalog.v1.catalog_pb2_grpc import CatalogServiceAsyncStub
    from freeway.router.v1.router_pb2_grpc import RouterServiceAsyncStub
    from services.edge.admission import Admission
    from services.edge.keystore import KeyStore
    from services.edge.keysync import KeySync
    from services.edge.metrics import EdgeMetrics


@dataclass
class Clients:
    """The gRPC stubs, built once per process on long-lived channels."""

    router: RouterServiceAsyncStub
    catalog: CatalogServiceAsyncStub
    router_health: Any  # grpc_health HealthStub (untyped)
    catalog_health: Any


class VersionedBodies:
    """Response bodies keyed by request (any hashable) and the catalogue version they were
    built from; a different version misses. Bounded: the oldest entry goes first."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._bodies: dict[Hashable, tuple[int, bytes]] = {}

    def get(self, key: Hashable, version: int) -> bytes | None:
        cached = self._bodies.get(key)
        if version and cached is not None and cached[0] == version:
            return cached[1]
        return None

    def put(self, key: Hashable, version: int, body: bytes) -> None:
        self._bodies.pop(key, None)
        if len(self._bodies) >= self.capacity:
            del self._bodies[next(iter(self._bodies))]
        self._bodies[key] = (version, body)


SETTINGS = web.AppKey("settings", EdgeSettings)
CLIENTS = web.AppKey("clients", Clients)
MODELS_CACHE = web.AppKey("models_cache", VersionedBodies)
CATALOG_CACHE = web.AppKey("catalog_cache", VersionedBodies)
CALLER = web.RequestKey("caller", Caller)
ADMISSION: web.AppKey[Admission] = web.AppKey("admission")
KEYSTORE: web.AppKey[KeyStore] = web.AppKey("keystore")
KEYSYNC: web.AppKey[KeySync] = web.AppKey("keysync")
METRICS: web.AppKey[EdgeMetrics] = web.AppKey("metrics")
