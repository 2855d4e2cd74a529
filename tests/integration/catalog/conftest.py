"""Catalog fixtures: the service built through its composition root, serving real gRPC on
127.0.0.1:0, over SQLite (tmp_path) and a throwaway PostgreSQL schema, polling a scriptable
model-list server on loopback that starts from a real recorded OpenRouter list."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.catalog.app import App, build
from services.catalog.config import CatalogSettings
from services.catalog.formats import parse_models
from services.catalog.freeness import classify
from services.catalog.poller import free_policy
from services.catalog.records import ModelRecord
from services.shared.providers import ProviderConfig
from services.shared.settings import SuiteSettings
from tests import corpus
from tests.integration.catalog.provider import (
    BASE_URL,
    RECORDED,
    FakeProvider,
    LoopbackTransport,
)

MISSING_KEY_ENV = "FREEWAY_TEST_NO_SUCH_KEY"

AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None selects the embedded SQLite default; otherwise a throwaway PostgreSQL schema."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_schema"))


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider.recorded()
    await fake.start()
    yield fake
    await fake.stop()


def openrouter(**overrides: Any) -> ProviderConfig:
    base = ProviderConfig(
        name="openrouter",
        base_url=BASE_URL,
        format="openrouter",
        api_key_env="FREEWAY_TEST_OPENROUTER_KEY",
    )
    return dataclasses.replace(base, **overrides)


def keyless() -> ProviderConfig:
    return ProviderConfig(
        name="groq",
        base_url="https://api.groq.com/openai/v1",
        format="openai",
        api_key_env=MISSING_KEY_ENV,
    )


def fast_settings(**overrides: Any) -> CatalogSettings:
    """Fast, deterministic settings: no jitter, no poll gap, quick leader retries."""
    values: dict[str, Any] = {
        "jitter_fraction": 0.0,
        "min_poll_gap_s": 0.0,
        "leader_retry_s": 0.1,
        "follower_sync_s": 0.1,
    }
    values.update(overrides)
    return CatalogSettings(**values)


@pytest.fixture
async def make_app(
    tmp_path: Path, database_url: str | None, provider: FakeProvider
) -> AsyncIterator[AppFactory]:
    """Build and start catalog apps (several may share one database); all stopped at the end."""
    apps: list[App] = []

    async def factory(
        settings: CatalogSettings | None = None,
        providers: list[ProviderConfig] | None = None,
        data_dir: Path | None = None,
    ) -> App:
        suite = SuiteSettings(
            catalog_addr="127.0.0.1:0", data_dir=data_dir or tmp_path, database_url=database_url
        )
        client = httpx.AsyncClient(transport=LoopbackTransport(provider.port))
        app = await build(
            settings or fast_settings(),
            suite,
            providers=[openrouter(), keyless()] if providers is None else providers,
            env={"FREEWAY_TEST_OPENROUTER_KEY": "sk-test"},
            client=client,
        )
        app.owns_client = True
        apps.append(app)
        await app.start()
        await initial_polls(app)
        return app

    yield factory
    for app in reversed(apps):
        await app.stop(grace=0.5)


def expected() -> dict[str, ModelRecord]:
    """The recorded list as the domain understands it (parse + classify, no service)."""
    result = parse_models(corpus.read("providers", RECORDED), "openrouter", fmt="openrouter")
    policy = free_policy(openrouter())
    return {r.id: classify(r, policy, BASE_URL) for r in result.records}


async def refresh(stub: catalog_pb2_grpc.CatalogServiceStub, name: str = "openrouter") -> int:
    reply = await stub.RefreshProvider(catalog_pb2.RefreshProviderRequest(name=name), timeout=30)
    assert reply.provider.healthy, reply.provider.last_error
    return int(reply.version)


async def refused_refresh(app: App, name: str = "openrouter") -> grpc.aio.AioRpcError:
    """The error RefreshProvider answers on `app`'s own port (fails when it succeeds)."""
    channel, stub = stub_for(app)
    try:
        await stub.RefreshProvider(catalog_pb2.RefreshProviderRequest(name=name), timeout=30)
    except grpc.aio.AioRpcError as exc:
        return exc
    finally:
        await channel.close()
    raise AssertionError(f"RefreshProvider({name!r}) succeeded; expected it to be refused")


async def initial_polls(app: App) -> None:
    """Wait (bounded) until a leader's scheduler has polled every provider once, so the
    tests' own RefreshProvider calls are the only polls that follow."""
    scheduler = app.replica.scheduler
    if scheduler is None:
        return
    async with asyncio.timeout(30):
        while not all(scheduler.completed[name] for name in scheduler.names):
            await asyncio.sleep(0.01)


@pytest.fixture
async def app(make_app: AppFactory) -> App:
    return await make_app()


def stub_for(app: App) -> tuple[grpc.aio.Channel, catalog_pb2_grpc.CatalogServiceStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.port}")
    return channel, catalog_pb2_grpc.CatalogServiceStub(channel)


@pytest.fixture
async def stub(app: App) -> AsyncIterator[catalog_pb2_grpc.CatalogServiceStub]:
    channel, client = stub_for(app)
    yield client
    await channel.close()
