"""A scaled-out suite on loopback: the provider simulator, a real catalog polling it, two
routers and three edges, every one built by its own composition root and served on a
free port; keys in a throwaway PostgreSQL schema, limits and budgets in the real Redis
(under a prefix of the test's own)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import orjson
import pytest

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.catalog.app import App as CatalogApp
from services.catalog.app import build as build_catalog
from services.catalog.config import CatalogSettings
from services.edge.app import bound_port, create_app, serve
from services.edge.config import EdgeSettings
from services.router.app import App as RouterApp
from services.router.app import build as build_router
from services.router.config import RouterSettings
from services.shared.settings import SuiteSettings
from tests.conftest import free_port
from tests.integration.replicas.simulator import Simulator

ADMIN_KEY = "replicas-admin-key"
KEY_ENV = "FREEWAY_TEST_REPLICAS_KEY"
EDGES, ROUTERS = 3, 2


@dataclass
class Scaled:
    edges: list[str]  # base URLs
    session: aiohttp.ClientSession
    paid_model: common_pb2.Model
    prefix: str
    redis_url: str

    async def post(self, i: int, path: str, key: str, body: Any) -> aiohttp.ClientResponse:
        url = self.edges[i % len(self.edges)] + path
        headers = {"Authorization": f"Bearer {key}"}
        async with self.session.post(url, json=body, headers=headers) as resp:
            await resp.read()
            return resp

    async def get(self, i: int, path: str, key: str) -> aiohttp.ClientResponse:
        url = self.edges[i % len(self.edges)] + path
        async with self.session.get(url, headers={"Authorization": f"Bearer {key}"}) as resp:
            await resp.read()
            return resp


def _providers_file(path: Path, simulator: Simulator) -> Path:
    path.write_text(
        "[[providers]]\n"
        'name = "openrouter"\n'
        f'base_url = "{simulator.base_url("openrouter")}"\n'
        'format = "openrouter"\n'
        f'api_key_env = "{KEY_ENV}"\n'
    )
    return path


async def _paid_model(catalog_addr: str) -> common_pb2.Model:
    """A paid model with both prices known (wait, bounded, for the first poll)."""
    async with grpc.aio.insecure_channel(catalog_addr) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        async with asyncio.timeout(30):
            while True:
                reply = await stub.ListModels(catalog_pb2.ListModelsRequest(), timeout=5)
                paid = [
                    m
                    for m in reply.models
                    if not m.is_free
                    and m.input_price_per_mtok > 0
                    and m.output_price_per_mtok > 0
                    and "text" in m.output_modalities
                ]
                if paid:
                    chosen: common_pb2.Model = min(paid, key=lambda m: m.id)
                    return chosen
                await asyncio.sleep(0.05)


async def _knows(router_addr: str, model_id: str) -> None:
    """Wait (bounded) until a router's catalogue snapshot has `model_id`."""
    body = orjson.dumps({"model": model_id, "messages": [{"role": "user", "content": "hi"}]})
    request = router_pb2.CompletionRequest(body=body.decode())
    async with grpc.aio.insecure_channel(router_addr) as channel:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        async with asyncio.timeout(30):
            while True:
                try:
                    await stub.Route(request, timeout=5)
                    return
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                await asyncio.sleep(0.05)


@pytest.fixture
async def scaled(tmp_path: Path, pg_schema: str, redis_url: str) -> AsyncIterator[Scaled]:
    simulator = await Simulator(port=0, record=False).start()
    providers = _providers_file(tmp_path / "providers.toml", simulator)
    env = {KEY_ENV: "sk-simulated"}
    analytics_addr = f"127.0.0.1:{free_port()}"  # away: routers spool their usage events
    catalog: CatalogApp = await build_catalog(
        CatalogSettings(jitter_fraction=0.0, min_poll_gap_s=0.0),
        SuiteSettings(
            catalog_addr="127.0.0.1:0",
            data_dir=tmp_path / "catalog",
            database_url=pg_schema,
            providers_file=providers,
        ),
        env=env,
    )
    await catalog.start()
    catalog_addr = f"127.0.0.1:{catalog.port}"
    routers: list[RouterApp] = []
    for i in range(ROUTERS):
        router = build_router(
            RouterSettings(allow_paid=True, quota=False, shutdown_grace_s=1.0),
            SuiteSettings(
                catalog_addr=catalog_addr,
                analytics_addr=analytics_addr,
                router_addr="127.0.0.1:0",
                data_dir=tmp_path / f"router{i}",
                providers_file=providers,
                redis_url=redis_url,
            ),
            env=env,
        )
        await router.start()
        routers.append(router)
    prefix = f"test-replicas-{uuid.uuid4().hex[:12]}:"
    runners = []
    for i in range(EDGES):
        settings = EdgeSettings(admin_key=ADMIN_KEY, limits_prefix=prefix, keys_sync_s=0.1)
        suite = SuiteSettings(
            router_addr=f"127.0.0.1:{routers[i % ROUTERS].port}",
            catalog_addr=catalog_addr,
            database_url=pg_schema,
            redis_url=redis_url,
            data_dir=tmp_path / f"edge{i}",
        )
        runners.append(await serve(create_app(settings, suite), "127.0.0.1:0", grace=1))
    paid = await _paid_model(catalog_addr)
    for router in routers:
        await _knows(f"127.0.0.1:{router.port}", paid.id)
    edges = [f"http://127.0.0.1:{bound_port(r)}" for r in runners]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Scaled(edges, session, paid, prefix, redis_url)
    for runner in runners:
        await runner.cleanup()
    for router in routers:
        await router.stop(1.0)
    await catalog.stop(1.0)
    await simulator.stop()
