"""ListChanges: the catalogue's history as pages, for clients that poll instead of watching."""

from __future__ import annotations

import grpc
import pytest

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.integration.catalog.conftest import AppFactory, fast_settings, refresh, stub_for
from tests.integration.catalog.provider import FakeProvider

pytestmark = pytest.mark.integration


async def changes(
    stub: catalog_pb2_grpc.CatalogServiceStub, since: int, limit: int = 0
) -> catalog_pb2.ListChangesResponse:
    request = catalog_pb2.ListChangesRequest(since_version=since, limit=limit)
    reply: catalog_pb2.ListChangesResponse = await stub.ListChanges(request, timeout=10)
    return reply


async def test_pages_cover_every_version_once(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    version = await refresh(stub)  # the first poll added every model: one version each
    pages, since = [], 0
    while True:
        page = await changes(stub, since, limit=100)
        pages.append(page)
        if not page.more:
            break
        since = page.events[-1].version
    everything = await changes(stub, 0)

    versions = [e.version for p in pages for e in p.events]
    assert versions == list(range(1, version + 1))
    assert [p.more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all(len(p.events) == 100 for p in pages[:-1])
    assert all(p.version == version and not p.history_truncated for p in pages)
    assert [e.version for e in everything.events] == versions  # default limit: 500
    assert all(e.change.type == catalog_pb2.CHANGE_TYPE_ADDED for e in everything.events)
    assert all(e.change.HasField("new") and not e.change.HasField("old") for e in everything.events)


async def test_a_change_carries_old_new_and_the_fields(
    stub: catalog_pb2_grpc.CatalogServiceStub, provider: FakeProvider
) -> None:
    base = await refresh(stub)
    edited = provider.models[0]
    provider.edit(edited["id"], context_length=edited["context_length"] + 7)
    removed = provider.remove(provider.models[1]["id"])
    after = await refresh(stub)

    page = await changes(stub, base)
    up_to_date = await changes(stub, after)

    assert after == base + 1  # the removal waits for more misses; the edit is one change
    [event] = page.events
    assert (event.version, page.version, page.more) == (after, after, False)
    assert event.at.seconds > 0
    change = event.change
    assert (change.type, change.model_id) == (
        catalog_pb2.CHANGE_TYPE_CHANGED,
        f"openrouter/{edited['id']}",
    )
    assert list(change.changed_fields) == ["context_window"]
    assert change.new.context_window == change.old.context_window + 7
    assert f"openrouter/{removed['id']}" not in {e.change.model_id for e in page.events}
    assert (list(up_to_date.events), up_to_date.more, up_to_date.history_truncated) == (
        [],
        False,
        False,
    )


async def test_a_version_older_than_history_is_truncated(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    app = await make_app(fast_settings(history_retention=5))
    channel, stub = stub_for(app)
    version = app.catalogue.version

    old = await changes(stub, 1)
    ahead = await changes(stub, version + 10)
    kept = await changes(stub, version - 5)
    await channel.close()

    assert old.history_truncated
    assert ahead.history_truncated
    assert (list(old.events), old.more, old.version) == ([], False, version)
    assert not kept.history_truncated
    assert [e.version for e in kept.events] == list(range(version - 4, version + 1))


async def test_history_survives_a_restart(make_app: AppFactory, provider: FakeProvider) -> None:
    first = await make_app()
    channel, stub = stub_for(first)
    provider.edit(provider.models[0]["id"], context_length=5)
    version = await refresh(stub)
    before = await changes(stub, version - 3)
    await channel.close()
    await first.stop(grace=0.5)

    second = await make_app()
    channel, stub = stub_for(second)
    after = await changes(stub, version - 3)
    await channel.close()

    assert after.version == version
    assert list(after.events) == list(before.events)


async def test_a_limit_over_the_maximum_is_rejected(
    stub: catalog_pb2_grpc.CatalogServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await changes(stub, 0, limit=5001)

    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (too_big.value.details() or "").startswith("limit:")
    assert len((await changes(stub, 0, limit=5000)).events) > 0
