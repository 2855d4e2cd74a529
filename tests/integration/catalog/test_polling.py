"""Polling against a real HTTP server: conditional requests, pagination, gzip, Retry-After
and backoff, misses before removal, the poll rate limit, restarts and webhooks."""

from __future__ import annotations

import time
from email.utils import formatdate

import grpc
import pytest

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.catalog.app import App
from tests.integration.catalog.conftest import (
    AppFactory,
    fast_settings,
    refresh,
    refused_refresh,
    stub_for,
)
from tests.integration.catalog.provider import HOOK_URL, FakeProvider

pytestmark = pytest.mark.integration


async def versions_and_count(stub: catalog_pb2_grpc.CatalogServiceStub) -> tuple[int, int]:
    listed = await stub.ListModels(catalog_pb2.ListModelsRequest(), timeout=10)
    return int(listed.version), len(listed.models)


async def test_etag_turns_an_unchanged_list_into_a_304(
    stub: catalog_pb2_grpc.CatalogServiceStub, provider: FakeProvider
) -> None:
    before = await versions_and_count(stub)

    await refresh(stub)

    assert provider.statuses() == [200, 304]
    assert "If-None-Match" not in provider.seen[0].headers
    assert provider.seen[1].headers["If-None-Match"].startswith('"')
    assert await versions_and_count(stub) == before


async def test_last_modified_is_sent_back_and_a_change_is_fetched(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    provider.etag = False
    provider.last_modified = True
    app = await make_app()
    channel, stub = stub_for(app)
    version, _ = await versions_and_count(stub)

    unchanged = await refresh(stub)
    provider.edit(provider.models[0]["id"], context_length=7)
    changed = await refresh(stub)
    await channel.close()

    assert provider.statuses() == [200, 304, 200]
    assert "If-Modified-Since" in provider.seen[1].headers
    assert (unchanged, changed) == (version, version + 1)


async def test_pages_are_followed(make_app: AppFactory, provider: FakeProvider) -> None:
    provider.page_size = 100
    app = await make_app()
    channel, stub = stub_for(app)

    _, count = await versions_and_count(stub)
    await channel.close()

    assert count == len(provider.models)
    assert [s.path_qs for s in provider.seen] == [
        "/api/v1/models",
        "/api/v1/models?page=2",
        "/api/v1/models?page=3",
        "/api/v1/models?page=4",
    ]


async def test_the_page_cap_stops_pagination_and_misses_nothing(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    provider.page_size = 100
    app = await make_app(fast_settings(max_pages=2, misses_before_removal=1))
    channel, stub = stub_for(app)

    version = await refresh(stub)
    _, count = await versions_and_count(stub)
    await channel.close()

    assert count == 200
    assert version == 200  # a truncated listing never removes the models it did not reach
    assert provider.statuses() == [200] * 4  # paged lists are never fetched conditionally
    assert "If-None-Match" not in provider.seen[2].headers


@pytest.mark.parametrize("encoding", ["gzip", "br"])
async def test_compressed_bodies_are_decoded(
    make_app: AppFactory, provider: FakeProvider, encoding: str
) -> None:
    if encoding == "br":
        pytest.importorskip("brotli", reason="brotli is optional: httpx decodes br only with it")
        provider.brotli = True
    provider.gzip = True
    app = await make_app()
    channel, stub = stub_for(app)

    _, count = await versions_and_count(stub)
    await channel.close()

    assert count == len(provider.models)
    assert encoding in provider.seen[0].headers["Accept-Encoding"]


@pytest.mark.parametrize("as_date", [False, True])
async def test_retry_after_pushes_the_next_poll_back(
    stub: catalog_pb2_grpc.CatalogServiceStub, provider: FakeProvider, as_date: bool
) -> None:
    before = time.time()
    wait = 7200
    value = formatdate(before + wait, usegmt=True) if as_date else str(wait)
    provider.fail(429, {"Retry-After": value})

    reply = await stub.RefreshProvider(
        catalog_pb2.RefreshProviderRequest(name="openrouter"), timeout=30
    )

    status = reply.provider
    assert not status.healthy
    assert "HTTP 429" in status.last_error
    assert status.next_poll.seconds >= before + wait - 2  # HTTP dates have 1 s resolution
    assert status.model_count == len(provider.models)


async def test_failures_back_off_exponentially(app: App, provider: FakeProvider) -> None:
    scheduler = app.replica.scheduler
    assert scheduler is not None
    provider.fail(500, times=3)

    failures, earliest, announced = [], [], []
    for attempt in range(1, 4):
        before = time.time()
        await scheduler.poll_now("openrouter")
        failures.append(scheduler.failures("openrouter"))
        # jittered down to half of base·2^(n-1), at the least
        earliest.append(before + app.settings.backoff_base_s * 2 ** (attempt - 1) / 2)
        announced.append(app.replica.poller.states["openrouter"].next_poll or 0.0)
    recovered = await scheduler.poll_now("openrouter")

    assert failures == [1, 2, 3]
    assert all(a >= e for a, e in zip(announced, earliest, strict=True))
    assert recovered.ok
    assert scheduler.failures("openrouter") == 0


async def test_a_missing_model_is_removed_after_the_configured_misses(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    app = await make_app(fast_settings(misses_before_removal=2))
    channel, stub = stub_for(app)
    version, count = await versions_and_count(stub)
    gone = provider.remove(provider.models[0]["id"])
    model_id = f"openrouter/{gone['id']}"

    first = await refresh(stub)
    still = await stub.GetModel(catalog_pb2.GetModelRequest(id=model_id), timeout=10)
    second = await refresh(stub)
    with pytest.raises(grpc.aio.AioRpcError) as removed:
        await stub.GetModel(catalog_pb2.GetModelRequest(id=model_id), timeout=10)
    history = stub.WatchCatalog(catalog_pb2.WatchCatalogRequest(since_version=version), timeout=30)
    event = await history.read()
    history.cancel()
    await channel.close()

    assert (first, second) == (version, version + 1)
    assert still.id == model_id
    assert removed.value.code() == grpc.StatusCode.NOT_FOUND
    assert event.change.type == catalog_pb2.CHANGE_TYPE_REMOVED
    assert event.change.old.id == model_id
    assert len(app.catalogue.select()) == count - 1


async def test_a_model_back_before_the_threshold_never_flaps(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    app = await make_app(fast_settings(misses_before_removal=2))
    channel, stub = stub_for(app)
    version, _ = await versions_and_count(stub)
    gone = provider.remove(provider.models[0]["id"])

    await refresh(stub)
    provider.add(gone)
    await refresh(stub)
    provider.remove(gone["id"])
    after = await refresh(stub)
    await channel.close()

    assert after == version  # two misses, but not consecutive: nothing changed


async def test_polling_itself_is_rate_limited(make_app: AppFactory, provider: FakeProvider) -> None:
    app = await make_app(fast_settings(min_poll_gap_s=3600))

    limited = await refused_refresh(app)

    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(provider.seen) == 1


async def test_a_restart_keeps_versions_and_history(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    first = await make_app()
    channel, stub = stub_for(first)
    version, count = await versions_and_count(stub)
    provider.edit(provider.models[0]["id"], context_length=11)
    await refresh(stub)
    await channel.close()
    await first.stop(grace=0.5)

    second = await make_app()
    channel, stub = stub_for(second)
    restarted = await versions_and_count(stub)
    stream = stub.WatchCatalog(catalog_pb2.WatchCatalogRequest(since_version=version), timeout=30)
    event = await stream.read()
    stream.cancel()
    await channel.close()

    assert restarted == (version + 1, count)
    assert event.version == version + 1
    assert event.change.changed_fields == ["context_window"]


async def test_changes_are_posted_to_webhooks(make_app: AppFactory, provider: FakeProvider) -> None:
    app = await make_app(fast_settings(webhooks=(HOOK_URL,)))
    channel, stub = stub_for(app)
    await app.webhooks.drain()
    provider.edit(provider.models[0]["id"], context_length=5)

    version = await refresh(stub)
    await app.webhooks.drain()
    await channel.close()

    initial, change = provider.hooks
    assert len(initial["changes"]) == len(provider.models)
    assert change["version"] == version
    assert change["changes"][0]["type"] == "changed"
    assert change["changes"][0]["changed_fields"] == ["context_window"]
    assert change["changes"][0]["new"]["context_window"] == 5


async def test_a_restart_reads_every_list_whole_again(
    make_app: AppFactory, provider: FakeProvider
) -> None:
    """A new process may read a list differently (an upgrade, a provider's capabilities in
    the providers file): its first poll never takes "not modified" for an answer."""
    first = await make_app()
    await first.stop(grace=0.5)
    second = await make_app()
    channel, stub = stub_for(second)
    await refresh(stub)
    await channel.close()
    assert provider.statuses() == [200, 200, 304]
    assert "If-None-Match" not in provider.seen[1].headers
