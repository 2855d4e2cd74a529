"""WatchCatalog: resumption from any retained version, snapshots for clients too far
behind, and many subscribers at once — never a lost or repeated change."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.integration.catalog.conftest import AppFactory, fast_settings, refresh, stub_for
from tests.integration.catalog.provider import FakeProvider

pytestmark = pytest.mark.integration


async def change_once(
    stub: catalog_pb2_grpc.CatalogServiceStub, provider: FakeProvider, n: int
) -> int:
    provider.edit(provider.models[n]["id"], context_length=1000 + n)
    return await refresh(stub)


async def read(stream: Any, count: int) -> list[catalog_pb2.CatalogEvent]:
    return [await stream.read() for _ in range(count)]


async def test_resume_from_every_retained_version(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    app = await make_app()
    channel, stub = stub_for(app)
    base = app.catalogue.version
    for n in range(3):
        await change_once(stub, provider, n)
    streams = {
        since: stub.WatchCatalog(catalog_pb2.WatchCatalogRequest(since_version=since), timeout=60)
        for since in range(base, base + 4)
    }

    backlog = {since: await read(s, base + 3 - since) for since, s in streams.items()}
    latest = await change_once(stub, provider, 3)
    live = {since: (await s.read()).version for since, s in streams.items()}
    for s in streams.values():
        s.cancel()
    await channel.close()

    for since, events in backlog.items():
        assert [e.version for e in events] == list(range(since + 1, base + 4))
        assert all(e.WhichOneof("kind") == "change" for e in events)
    assert live == dict.fromkeys(streams, latest)


async def test_a_client_too_far_behind_gets_a_snapshot(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    app = await make_app(fast_settings(history_retention=5))
    channel, stub = stub_for(app)
    version = app.catalogue.version
    stream = stub.WatchCatalog(catalog_pb2.WatchCatalogRequest(since_version=3), timeout=60)
    future = stub.WatchCatalog(
        catalog_pb2.WatchCatalogRequest(since_version=version + 100), timeout=60
    )

    snapshot, reset = await stream.read(), await future.read()
    latest = await change_once(stub, provider, 0)
    after = await stream.read()
    stream.cancel()
    future.cancel()
    await channel.close()

    assert snapshot.WhichOneof("kind") == "snapshot"
    assert snapshot.version == version
    assert len(snapshot.snapshot.models) == len(provider.models)
    assert reset.WhichOneof("kind") == "snapshot"
    assert (after.WhichOneof("kind"), after.version) == ("change", latest)


async def test_fifty_subscribers_each_get_every_change_once(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    app = await make_app()
    channel, stub = stub_for(app)
    base = app.catalogue.version
    streams = [
        stub.WatchCatalog(catalog_pb2.WatchCatalogRequest(since_version=base), timeout=60)
        for _ in range(50)
    ]

    for n in range(3):
        await change_once(stub, provider, n)
    received = await asyncio.gather(*(read(s, 3) for s in streams))
    for s in streams:
        s.cancel()
    await channel.close()

    expected = [base + 1, base + 2, base + 3]
    assert all([e.version for e in events] == expected for events in received)
    assert all(
        [e.change.model_id for e in events]
        == [f"openrouter/{m['id']}" for m in provider.models[:3]]
        for events in received
    )
