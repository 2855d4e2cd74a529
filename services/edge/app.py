"""Composition root of the edge (STYLE.md §6, §8): an aiohttp app factory whose gRPC
channels open and close with the app (`cleanup_ctx`). Tests build the app the same way,
pointing `suite` at their own servers and overriding the limiter or keyring when needed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from grpc_health.v1 import health_pb2_grpc

from freeway.catalog.v1 import catalog_pb2_grpc
from freeway.router.v1 import router_pb2_grpc
from services.edge import handlers, usage_routes
from services.edge.auth import Keyring
from services.edge.config import EdgeSettings, edge_settings
from services.edge.keys import (
    CATALOG_CACHE,
    CLIENTS,
    MODELS_CACHE,
    SETTINGS,
    Clients,
    VersionedBodies,
)
from services.edge.middlewares import auth_middleware, context_middleware
from services.shared import logs
from services.shared.channels import channel
from services.shared.config import parse_address
from services.shared.ratelimit import RateLimiter, rate_limiter
from services.shared.server import CannotListen, wait_for_signal
from services.shared.settings import SuiteSettings, suite_settings

if TYPE_CHECKING:
    from freeway.catalog.v1.catalog_pb2_grpc import CatalogServiceAsyncStub
    from freeway.router.v1.router_pb2_grpc import RouterServiceAsyncStub

log = logging.getLogger("freeway.edge")

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]

# How the edge is served (tests serve it the same way). A client that disconnects cancels
# its handler, and so its router call: a long completion nobody waits for stops at once.
RUNNER_OPTIONS: dict[str, Any] = {"handler_cancellation": True, "access_log": None}


def create_app(
    settings: EdgeSettings,
    suite: SuiteSettings,
    *,
    limiter: RateLimiter | None = None,
    keyring: Keyring | None = None,
) -> web.Application:
    """The edge application. `limiter` defaults to Redis when `suite.redis_url` is set,
    in-process otherwise; `keyring` defaults to the admin key of `settings`."""
    owned = limiter is None
    limiter = limiter if limiter is not None else rate_limiter(suite.redis_url)
    keyring = keyring if keyring is not None else Keyring(settings.admin_key)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[context_middleware, auth_middleware(keyring, limiter, settings.rpm)],
    )
    app[SETTINGS] = settings
    app[MODELS_CACHE] = VersionedBodies()
    app[CATALOG_CACHE] = VersionedBodies()
    app.cleanup_ctx.append(grpc_clients(suite))
    app.cleanup_ctx.append(usage_routes.analytics_channel(suite))
    if owned:
        app.cleanup_ctx.append(closing(limiter))
    add_routes(app.router)
    return app


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/chat/completions", handlers.chat_completions)
    router.add_post("/v1/route", handlers.route)
    router.add_get("/v1/models", handlers.list_models, allow_head=False)
    router.add_get("/v1/models/{model_id:.+}", handlers.get_model, allow_head=False)
    router.add_get("/v1/catalog", handlers.list_catalog, allow_head=False)
    router.add_get("/v1/catalog/changes", handlers.list_changes, allow_head=False)
    router.add_get("/v1/providers", handlers.list_providers, allow_head=False)
    router.add_get("/v1/usage/summary", usage_routes.summary, allow_head=False)
    router.add_get("/v1/usage/timeseries", usage_routes.timeseries, allow_head=False)
    router.add_get("/v1/usage/savings", usage_routes.savings, allow_head=False)
    router.add_get("/v1/usage/forecast", usage_routes.forecast, allow_head=False)
    router.add_get("/v1/usage/export", usage_routes.export, allow_head=False)
    router.add_post("/v1/feedback", usage_routes.feedback)
    router.add_get("/healthz", handlers.healthz)


def grpc_clients(suite: SuiteSettings) -> CleanupCtx:
    """One channel per sibling service for the app's lifetime, with prebuilt stubs."""

    async def open_channels(app: web.Application) -> AsyncIterator[None]:
        router = channel(suite.router_addr)
        catalog = channel(suite.catalog_addr)
        app[CLIENTS] = Clients(
            router=cast("RouterServiceAsyncStub", router_pb2_grpc.RouterServiceStub(router)),
            catalog=cast("CatalogServiceAsyncStub", catalog_pb2_grpc.CatalogServiceStub(catalog)),
            router_health=health_pb2_grpc.HealthStub(router),
            catalog_health=health_pb2_grpc.HealthStub(catalog),
        )
        yield
        await asyncio.gather(router.close(), catalog.close())

    return open_channels


def closing(limiter: RateLimiter) -> CleanupCtx:
    async def close_limiter(app: web.Application) -> AsyncIterator[None]:
        yield
        await limiter.close()

    return close_limiter


async def serve(app: web.Application, address: str, grace: float = 10.0) -> web.AppRunner:
    """Serve `app` on `address` ("127.0.0.1:0" picks a free port: see `bound_port`)."""
    host, port = parse_address(address, "FREEWAY_EDGE_ADDR")
    runner = web.AppRunner(app, shutdown_timeout=grace, **RUNNER_OPTIONS)
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
    suite = suite_settings()
    if not settings.admin_key:
        log.warning("FREEWAY_ADMIN_KEY is not set: no key is accepted, every call gets 401")
    runner = await serve(create_app(settings, suite), suite.edge_addr, settings.shutdown_grace_s)
    host = suite.edge_addr.rpartition(":")[0]
    log.info("edge listening on http://%s:%d", host, bound_port(runner))
    try:
        await wait_for_signal()
    finally:
        log.info("edge stopping")
        await runner.cleanup()
