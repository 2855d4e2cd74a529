"""Composition root of the edge (STYLE.md §6, §8): an aiohttp app factory whose gRPC
channels open and close with the app (`cleanup_ctx`). Tests build the app the same way,
pointing `suite` at their own servers and overriding the ledger, keyring or key store when
needed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from grpc_health.v1 import health_pb2_grpc

from freeway.catalog.v1 import catalog_pb2_grpc
from freeway.router.v1 import router_pb2_grpc
from services.edge import admin, dashboard, handlers, openapi, usage_routes
from services.edge.admission import Admission
from services.edge.auth import Authenticator, Keyring
from services.edge.config import EdgeSettings, edge_settings
from services.edge.exchange import RouterCalls
from services.edge.jwt_auth import JwtVerifier
from services.edge.keys import (
    ADMISSION,
    CATALOG_CACHE,
    CLIENTS,
    KEYSTORE,
    KEYSYNC,
    METRICS,
    MODELS_CACHE,
    SETTINGS,
    Clients,
    VersionedBodies,
)
from services.edge.keystore import SQLITE_FILE, KeyStore
from services.edge.keysync import KeySync
from services.edge.live import feeds, ws
from services.edge.live.hub import Hub
from services.edge.metrics import EdgeMetrics, internal_only
from services.edge.middlewares import auth_middleware, context_middleware
from services.edge.openapi import admin as admin_api
from services.edge.openapi import alerts as alerts_api
from services.edge.openapi import catalog as catalog_api
from services.edge.openapi import chat as chat_api
from services.edge.openapi import document as service_api
from services.edge.openapi import live as live_api
from services.edge.openapi import usage as usage_api
from services.edge.protocol import EdgeRunner
from services.shared import logs
from services.shared.channels import channel
from services.shared.config import parse_address
from services.shared.db import open_database
from services.shared.metrics import PATH as METRICS_PATH
from services.shared.metrics import metrics_handler
from services.shared.ratelimit import Ledger, ledger
from services.shared.server import CannotListen, wait_for_signal
from services.shared.settings import SuiteSettings, service_settings

if TYPE_CHECKING:
    from freeway.analytics.v1.analytics_pb2_grpc import AnalyticsServiceAsyncStub
    from freeway.catalog.v1.catalog_pb2_grpc import CatalogServiceAsyncStub
    from freeway.router.v1.router_pb2_grpc import RouterServiceAsyncStub

log = logging.getLogger("freeway.edge")

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]

# How the edge is served (tests serve it the same way). A client that disconnects cancels
# its handler, and so its router call: a long completion nobody waits for stops at once.
RUNNER_OPTIONS: dict[str, Any] = {"handler_cancellation": True, "access_log": None}

# Who describes the routes of `add_routes` in /openapi.json (a route module adds its own).
DESCRIBERS: tuple[openapi.Describer, ...] = (
    service_api.describe,
    chat_api.describe,
    catalog_api.describe,
    alerts_api.describe,
    admin_api.describe,
    usage_api.describe,
    live_api.describe,
)


def create_app(
    settings: EdgeSettings,
    suite: SuiteSettings,
    *,
    limits: Ledger | None = None,
    keyring: Keyring | None = None,
    store: KeyStore | None = None,
    metrics: EdgeMetrics | None = None,
) -> web.Application:
    """The edge application. `limits` (the ledger of limits and budgets) defaults to Redis
    when `suite.redis_url` is set, in-process otherwise; `keyring` to the admin key of
    `settings`; `store` to the key store in `suite.database_url` (else SQLite under
    `suite.data_dir`), which the keyring then follows."""
    owned = limits is None
    limits = limits if limits is not None else ledger(suite.redis_url, settings.limits_prefix)
    keyring = keyring if keyring is not None else Keyring(settings.admin_key)
    verifier = JwtVerifier(settings, keyring) if settings.jwt_jwks_url else None
    metrics = metrics if metrics is not None else EdgeMetrics()
    authenticator = Authenticator(keyring, verifier)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[metrics.middleware(), context_middleware, auth_middleware(authenticator)],
    )
    app[ws.AUTHENTICATOR] = authenticator
    app[ws.SOCKETS] = set()
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[MODELS_CACHE] = VersionedBodies()
    app[CATALOG_CACHE] = VersionedBodies()
    app[openapi.DOCUMENT] = openapi.build(DESCRIBERS)
    app[ADMISSION] = Admission(limits, settings)
    app.cleanup_ctx.append(grpc_clients(suite, settings.router_streams))
    app.cleanup_ctx.append(usage_routes.analytics_channel(suite))
    app.cleanup_ctx.append(live_hub)
    app.on_shutdown.append(ws.shutdown)
    app.cleanup_ctx.append(key_store(settings, suite, keyring, store))
    if verifier is not None:
        app.cleanup_ctx.append(verifier.lifetime)
    if owned:
        app.cleanup_ctx.append(closing(limits))
    add_routes(app.router)
    admin.add_routes(app.router)
    app.router.add_get(
        METRICS_PATH,
        internal_only(metrics_handler(metrics.registry, suite.metrics_token)),
        allow_head=False,
    )
    dashboard.add_routes(app.router)
    return app


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/chat/completions", handlers.chat_completions)
    router.add_post("/v1/route", handlers.route)
    router.add_get("/v1/models", handlers.list_models, allow_head=False)
    router.add_get("/v1/models/{model_id:.+}", handlers.get_model, allow_head=False)
    router.add_get("/v1/catalog", handlers.list_catalog, allow_head=False)
    router.add_get("/v1/catalog/changes", handlers.list_changes, allow_head=False)
    router.add_get("/v1/providers", handlers.list_providers, allow_head=False)
    router.add_get("/v1/alerts", handlers.list_alerts, allow_head=False)
    router.add_get("/v1/usage/summary", usage_routes.summary, allow_head=False)
    router.add_get("/v1/usage/timeseries", usage_routes.timeseries, allow_head=False)
    router.add_get("/v1/usage/savings", usage_routes.savings, allow_head=False)
    router.add_get("/v1/usage/forecast", usage_routes.forecast, allow_head=False)
    router.add_get("/v1/usage/export", usage_routes.export, allow_head=False)
    router.add_post("/v1/feedback", usage_routes.feedback)
    router.add_get(ws.PATH, ws.websocket, allow_head=False)
    router.add_get("/healthz", handlers.healthz)
    router.add_get("/openapi.json", openapi.openapi_json, allow_head=False)


def grpc_clients(suite: SuiteSettings, router_streams: int = 0) -> CleanupCtx:
    """One channel per sibling service for the app's lifetime, with prebuilt stubs. With
    `router_streams`, chat calls go multiplexed over that many RouterService.Exchange
    streams (see `exchange`), else one unary call each."""

    async def open_channels(app: web.Application) -> AsyncIterator[None]:
        router = channel(suite.router_addr, suite.service_token)
        catalog = channel(suite.catalog_addr, suite.service_token)
        stub = router_pb2_grpc.RouterServiceStub(router)
        replicas = [a.strip() for a in suite.router_addr.split(",") if a.strip()]
        own = [channel(a, suite.service_token) for a in replicas] if len(replicas) > 1 else []
        stubs = [router_pb2_grpc.RouterServiceStub(c) for c in own] or None
        calls = RouterCalls(stub, router_streams, stubs, own) if router_streams > 0 else stub
        app[CLIENTS] = Clients(
            router=cast("RouterServiceAsyncStub", calls),
            catalog=cast("CatalogServiceAsyncStub", catalog_pb2_grpc.CatalogServiceStub(catalog)),
            router_health=health_pb2_grpc.HealthStub(router),
            catalog_health=health_pb2_grpc.HealthStub(catalog),
        )
        yield
        await asyncio.gather(router.close(), catalog.close(), *(c.close() for c in own))

    return open_channels


async def live_hub(app: web.Application) -> AsyncIterator[None]:
    """The live topics' hub, fed through the app's own channels (so it opens after them
    and stops before they close)."""
    settings, clients = app[SETTINGS], app[CLIENTS]
    analytics = cast("AnalyticsServiceAsyncStub", app[usage_routes.ANALYTICS])
    app[ws.HUB] = Hub(
        feeds.feeds(
            clients.catalog, clients.router, analytics, settings.live_poll_s, settings.rpc_timeout_s
        )
    )
    yield
    await app[ws.HUB].close()


def key_store(
    settings: EdgeSettings, suite: SuiteSettings, keyring: Keyring, store: KeyStore | None
) -> CleanupCtx:
    """The key store (migrated), the keyring loaded from it, and kept in step with it."""

    async def open_store(app: web.Application) -> AsyncIterator[None]:
        owned = store is None
        if store is None:
            db = await open_database(suite.database_url, suite.data_dir / SQLITE_FILE)
            opened = KeyStore(db)
            await opened.migrate()
        else:
            opened = store
        sync = KeySync(opened, keyring, settings.default_limits, settings.keys_sync_s)
        await sync.load()
        sync.start()
        app[KEYSTORE], app[KEYSYNC] = opened, sync
        yield
        await sync.stop()
        if owned:
            await opened.db.close()

    return open_store


def closing(limits: Ledger) -> CleanupCtx:
    async def close_ledger(app: web.Application) -> AsyncIterator[None]:
        yield
        await limits.close()

    return close_ledger


async def serve(app: web.Application, address: str, grace: float = 10.0) -> web.AppRunner:
    """Serve `app` on `address` ("127.0.0.1:0" picks a free port: see `bound_port`)."""
    host, port = parse_address(address, "FREEWAY_EDGE_ADDR")
    runner = EdgeRunner(app, shutdown_timeout=grace, **RUNNER_OPTIONS)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise CannotListen(f"edge: cannot listen on {address}: {exc.strerror or exc}") from exc
    return runner


def bound_port(runner: web.AppRunner) -> int:
    port: int = runner.addresses[0][1]
    return port


async def main() -> None:
    """`python -m services.edge`: serve on FREEWAY_EDGE_ADDR until SIGTERM / SIGINT."""
    logs.configure("edge")
    settings = edge_settings()
    suite = service_settings()
    if not settings.admin_key:
        log.warning("FREEWAY_ADMIN_KEY is not set: only keys of the key store are accepted")
    runner = await serve(create_app(settings, suite), suite.edge_addr, settings.shutdown_grace_s)
    host = suite.edge_addr.rpartition(":")[0]
    log.info("edge listening on http://%s:%d", host, bound_port(runner))
    try:
        await wait_for_signal()
    finally:
        log.info("edge stopping")
        await runner.cleanup()
