"""The edge app against fake router / catalog servicers on real loopback gRPC servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.edge.app import create_app
from services.edge.auth import Keyring
from services.edge.config import EdgeSettings
from services.shared.ratelimit import Ledger
from services.shared.server import RunningServer
from services.shared.settings import SuiteSettings
from tests.integration.edge.fakes import FakeCatalog, FakeRouter, serve_catalog, serve_router

CHAT = "/v1/chat/completions"
ADMIN_KEY = "test-admin-key"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
USER = [{"role": "user", "content": "hello there"}]


@dataclass
class Backends:
    router: FakeRouter
    catalog: FakeCatalog
    router_server: RunningServer
    catalog_server: RunningServer
    data_dir: Path

    def suite(self, **overrides: Any) -> SuiteSettings:
        values: dict[str, Any] = {
            "router_addr": f"127.0.0.1:{self.router_server.port}",
            "catalog_addr": f"127.0.0.1:{self.catalog_server.port}",
            "redis_url": None,
            "database_url": None,
            "data_dir": self.data_dir,  # the edge's embedded key store lives here
        }
        return SuiteSettings(**{**values, **overrides})


@dataclass
class Edge:
    client: TestClient[Any, Any]
    backends: Backends

    @property
    def router(self) -> FakeRouter:
        return self.backends.router

    @property
    def catalog(self) -> FakeCatalog:
        return self.backends.catalog


EdgeFactory = Callable[..., AbstractAsyncContextManager[Edge]]


async def sse_data(resp: ClientResponse) -> list[str]:
    """The `data:` payloads of an event stream, in order."""
    text = (await resp.read()).decode()
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


async def assert_openai_error(resp: ClientResponse, status: int, param: str | None = None) -> Any:
    """`resp` is an OpenAI-shaped error with `status` naming `param`; the error object."""
    assert resp.status == status
    assert resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert "Traceback" not in error["message"]
    assert error["param"] == param
    return error


async def away_from_window_edge() -> None:
    """Fixed one-minute rate windows: don't let a test's few requests straddle two of them."""
    left = 60 - time.time() % 60
    if left < 3:
        await asyncio.sleep(left + 0.1)


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[Backends]:
    router, catalog = FakeRouter(), FakeCatalog()
    router_server = await serve_router(router)
    catalog_server = await serve_catalog(catalog)
    yield Backends(router, catalog, router_server, catalog_server, tmp_path / "var")
    await router_server.stop(0)
    await catalog_server.stop(0)


@pytest.fixture
def make_edge(backends: Backends) -> EdgeFactory:
    """Build an edge with some settings changed: `async with make_edge(rpm=2) as edge:`."""

    @asynccontextmanager
    async def build(
        *,
        suite: SuiteSettings | None = None,
        limits: Ledger | None = None,
        keyring: Keyring | None = None,
        **settings: Any,
    ) -> AsyncIterator[Edge]:
        app = create_app(
            EdgeSettings(**{"admin_key": ADMIN_KEY, **settings}),
            suite or backends.suite(),
            limits=limits,
            keyring=keyring,
        )
        # TestServer runs with handler_cancellation=True, like `serve` (RUNNER_OPTIONS).
        async with TestClient(TestServer(app)) as client:
            yield Edge(client, backends)

    return build


@pytest.fixture
async def edge(make_edge: EdgeFactory) -> AsyncIterator[Edge]:
    async with make_edge() as built:
        yield built
