"""The whole suite in this process, on loopback: the provider simulator, a real catalog
polling it, real analytics (SQLite), a real router and the edge, each built by its own
composition root on a free port. The live tests talk to the edge's /v1/ws with aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
from aiohttp import web

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.analytics.app import build as build_analytics
from services.analytics.config import AnalyticsSettings
from services.catalog.app import build as build_catalog
from services.catalog.config import CatalogSettings
from services.edge.app import bound_port, create_app, serve
from services.edge.config import EdgeSettings
from services.edge.live.hub import Hub
from services.edge.live.ws import HUB
from services.router.app import build as build_router
from services.router.config import RouterSettings
from services.shared.settings import SuiteSettings
from services.simulator.server import Simulator

ADMIN_KEY = "live-admin-key"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
KEY_ENV = "FREEWAY_TEST_LIVE_KEY"
PROVIDER = "openrouter"
WAIT_S = 30.0  # bound of every wait for a frame (never a timing assertion)


@dataclass
class Live:
    base: str  # the edge's http://host:port
    session: aiohttp.ClientSession
    simulator: Simulator
    catalog_addr: str
    runner: web.AppRunner
    edge_stopped: bool = False

    async def stop_edge(self) -> None:
        """Shut the edge down, as SIGTERM does (its WebSockets close 1001)."""
        self.edge_stopped = True
        await self.runner.cleanup()

    @property
    def ws_url(self) -> str:
        return self.base + "/v1/ws"

    @property
    def hub(self) -> Hub:
        return self.runner.app[HUB]

    async def connect(self, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        ws: aiohttp.ClientWebSocketResponse = await self.session.ws_connect(self.ws_url, **kwargs)
        return ws

    async def signed_in(self, *topics: str) -> aiohttp.ClientWebSocketResponse:
        """A socket authenticated by header, subscribed to `topics`, each feed live."""
        ws = await self.connect(headers=AUTH)
        assert (await frame(ws))["type"] == "ready"
        await ws.send_json({"type": "subscribe", "topics": list(topics)})
        waiting = {*topics, "subscribed"}
        while waiting:
            got = await frame(ws)
            if got["type"] == "status" and got["state"] == "live":
                waiting.discard(got["topic"])
            elif got["type"] == "subscribed":
                waiting.discard("subscribed")
        return ws

    async def chat(self, content: str) -> aiohttp.ClientResponse:
        body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
        async with self.session.post(
            self.base + "/v1/chat/completions", json=body, headers=AUTH
        ) as resp:
            await resp.read()
            return resp

    async def refresh(self) -> None:
        async with grpc.aio.insecure_channel(self.catalog_addr) as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            await stub.RefreshProvider(
                catalog_pb2.RefreshProviderRequest(name=PROVIDER), timeout=10
            )


async def frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next JSON text frame (bounded wait); fails on a close."""
    message = await ws.receive(timeout=WAIT_S)
    assert message.type is aiohttp.WSMsgType.TEXT, (message.type, message.data, message.extra)
    data: dict[str, Any] = orjson.loads(message.data)
    return data


async def event(ws: aiohttp.ClientWebSocketResponse, topic: str, **match: Any) -> dict[str, Any]:
    """The data of the next event of `topic` whose fields equal `match`."""
    async with asyncio.timeout(WAIT_S):
        while True:
            got = await frame(ws)
            if got["type"] == "event" and got["topic"] == topic:
                data: dict[str, Any] = got["data"]
                if all(data.get(k) == v for k, v in match.items()):
                    return data


def _providers_file(path: Path, simulator: Simulator) -> Path:
    path.write_text(
        "[[providers]]\n"
        f'name = "{PROVIDER}"\n'
        f'base_url = "{simulator.base_url(PROVIDER)}"\n'
        'format = "openrouter"\n'
        f'api_key_env = "{KEY_ENV}"\n'
    )
    return path


async def _wait_for_models(session: aiohttp.ClientSession, base: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while True:
            async with session.get(base + "/v1/models", headers=AUTH) as resp:
                if resp.status == 200 and len((await resp.json())["data"]) > 1:
                    return
            await asyncio.sleep(0.1)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    simulator = await Simulator(port=0, record=False).start()
    providers = _providers_file(tmp_path / "providers.toml", simulator)
    env = {KEY_ENV: "sk-simulated"}
    catalog = await build_catalog(
        CatalogSettings(jitter_fraction=0.0, min_poll_gap_s=0.0),
        SuiteSettings(
            catalog_addr="127.0.0.1:0", data_dir=tmp_path / "catalog", providers_file=providers
        ),
        env=env,
    )
    await catalog.start()
    catalog_addr = f"127.0.0.1:{catalog.port}"
    analytics = build_analytics(
        AnalyticsSettings(),
        SuiteSettings(
            analytics_addr="127.0.0.1:0", data_dir=tmp_path / "analytics", database_url=None
        ),
    )
    await analytics.start()
    analytics_addr = f"127.0.0.1:{analytics.port}"
    router = build_router(
        RouterSettings(shutdown_grace_s=1.0, usage_flush_interval_s=0.01),
        SuiteSettings(
            catalog_addr=catalog_addr,
            analytics_addr=analytics_addr,
            router_addr="127.0.0.1:0",
            data_dir=tmp_path / "router",
            providers_file=providers,
            redis_url=None,
        ),
        env=env,
    )
    await router.start()
    settings = EdgeSettings(
        admin_key=ADMIN_KEY, ws_queue=32, ws_auth_timeout_s=1.0, live_poll_s=0.2
    )
    suite = SuiteSettings(
        router_addr=f"127.0.0.1:{router.port}",
        catalog_addr=catalog_addr,
        analytics_addr=analytics_addr,
        database_url=None,
        redis_url=None,
        data_dir=tmp_path / "edge",
    )
    runner = await serve(create_app(settings, suite), "127.0.0.1:0", grace=1)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    async with aiohttp.ClientSession() as session:
        await _wait_for_models(session, base)
        running = Live(base, session, simulator, catalog_addr, runner)
        yield running
        if not running.edge_stopped:
            await runner.cleanup()
    await router.stop(1.0)
    await analytics.stop()
    await catalog.stop(1.0)
    await simulator.stop()
