"""The typed keys of the edge's application and requests (STYLE.md §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.edge.auth import Caller
from services.edge.config import EdgeSettings

if TYPE_CHECKING:
    from freeway.catalog.v1.catalog_pb2_grpc import CatalogServiceAsyncStub
    from freeway.router.v1.router_pb2_grpc import RouterServiceAsyncStub


@dataclass
class Clients:
    """The gRPC stubs, built once per process on long-lived channels."""

    router: RouterServiceAsyncStub
    catalog: CatalogServiceAsyncStub
    router_health: Any  # grpc_health HealthStub (untyped)
    catalog_health: Any


@dataclass
class ModelsCache:
    """The last `/v1/models` bodies, keyed by free_only, with the catalogue version they
    were built from: the JSON is rebuilt only when the catalogue changes."""

    bodies: dict[bool, tuple[int, bytes]] = field(default_factory=dict)


SETTINGS = web.AppKey("settings", EdgeSettings)
CLIENTS = web.AppKey("clients", Clients)
MODELS_CACHE = web.AppKey("models_cache", ModelsCache)
CALLER = web.RequestKey("caller", Caller)
