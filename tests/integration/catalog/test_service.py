"""The catalog service end to end: real gRPC, real HTTP polling, SQLite and PostgreSQL."""

from __future__ import annotations

import json

import grpc
import pytest

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from services.catalog.app import App
from tests import corpus
from tests.integration.catalog.conftest import MISSING_KEY_ENV, expected, refresh
from tests.integration.catalog.provider import RECORDED, FakeProvider

pytestmark = pytest.mark.integration


async def test_list_models_serves_the_recorded_list(
    stub: catalog_pb2_grpc.CatalogServiceStub,
) -> None:
    want = expected()
    raw = json.loads(corpus.read("providers", RECORDED))["data"]
    version = await refresh(stub)

    listed = await stub.ListModels(catalog_pb2.ListModelsRequest(), timeout=10)
    free = await stub.ListModels(catalog_pb2.ListModelsRequest(free_only=True), timeout=10)

    assert len(listed.models) == len(want) == len({m["id"] for m in raw})
    assert listed.version == version == len(want)  # one ADDED change per model
    assert {m.id for m in free.models} == {i for i, r in want.items() if r.is_free}
    assert len(free.models) >= sum(1 for m in raw if m["id"].endswith(":free"))
    assert all(
        m.is_free and m.free_reason != common_pb2.FREE_REASON_UNSPECIFIED for m in free.models
    )


async def test_prices_unknown_stay_unset(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    want = expected()
    await refresh(stub)
    listed = await stub.ListModels(catalog_pb2.ListModelsRequest(), timeout=10)
    for model in listed.models:
        record = want[model.id]
        assert model.HasField("input_price_per_mtok") == (record.input_price_per_mtok is not None)
        if record.input_price_per_mtok is not None:
            assert model.input_price_per_mtok == pytest.approx(record.input_price_per_mtok)


async def test_list_models_filters(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    want = expected()
    await refresh(stub)
    request = catalog_pb2.ListModelsRequest(
        provider="openrouter", capabilities=[common_pb2.CAPABILITY_TOOLS], min_context=100_000
    )
    listed = await stub.ListModels(request, timeout=10)
    none = await stub.ListModels(catalog_pb2.ListModelsRequest(provider="nobody"), timeout=10)

    assert {m.id for m in listed.models} == {
        i for i, r in want.items() if "tools" in r.capabilities and r.context_window >= 100_000
    }
    assert listed.models
    assert not none.models


async def test_list_models_rejects_bad_filters(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as negative:
        await stub.ListModels(catalog_pb2.ListModelsRequest(min_context=-1), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.ListModels(
            catalog_pb2.ListModelsRequest(capabilities=[common_pb2.CAPABILITY_UNSPECIFIED]),
            timeout=10,
        )
    assert negative.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "min_context" in (negative.value.details() or "")
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "capabilities" in (unknown.value.details() or "")


async def test_get_model(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    want = expected()
    await refresh(stub)
    some_id = sorted(want)[0]

    model = await stub.GetModel(catalog_pb2.GetModelRequest(id=some_id), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetModel(catalog_pb2.GetModelRequest(id="openrouter/no-such-model"), timeout=10)

    assert model.id == some_id
    assert model.upstream_id == want[some_id].upstream_id
    assert model.first_seen.seconds > 0
    assert model.last_seen.seconds >= model.first_seen.seconds
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "openrouter/no-such-model" in (missing.value.details() or "")


async def test_list_providers_shows_status_and_missing_key(
    stub: catalog_pb2_grpc.CatalogServiceStub,
) -> None:
    want = expected()
    await refresh(stub)

    reply = await stub.ListProviders(catalog_pb2.ListProvidersRequest(), timeout=10)
    by_name = {p.name: p for p in reply.providers}

    polled, keyless = by_name["openrouter"], by_name["groq"]
    assert polled.healthy
    assert polled.last_error == ""
    assert polled.model_count == len(want)
    assert polled.free_count == sum(1 for r in want.values() if r.is_free)
    assert polled.last_success.seconds > 0
    assert polled.next_poll.seconds > 0
    assert not keyless.healthy
    assert keyless.last_error == f"missing API key {MISSING_KEY_ENV}"


async def test_refresh_unknown_or_unpollable_provider(
    stub: catalog_pb2_grpc.CatalogServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.RefreshProvider(catalog_pb2.RefreshProviderRequest(name="nope"), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as keyless:
        await stub.RefreshProvider(catalog_pb2.RefreshProviderRequest(name="groq"), timeout=10)

    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in (unknown.value.details() or "")
    assert keyless.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert MISSING_KEY_ENV in (keyless.value.details() or "")


async def test_poll_sends_the_key_and_a_failure_becomes_status(
    app: App, stub: catalog_pb2_grpc.CatalogServiceStub, provider: FakeProvider
) -> None:
    await refresh(stub)
    provider.fail(503)

    reply = await stub.RefreshProvider(
        catalog_pb2.RefreshProviderRequest(name="openrouter"), timeout=30
    )

    assert provider.seen[0].headers["Authorization"] == "Bearer sk-test"
    assert not reply.provider.healthy
    assert "HTTP 503" in reply.provider.last_error
    assert reply.provider.model_count > 0  # the catalogue keeps what it knew


async def test_watch_sends_snapshot_then_changes(
    app: App, stub: catalog_pb2_grpc.CatalogServiceStub, provider: FakeProvider
) -> None:
    version = await refresh(stub)
    stream = stub.WatchCatalog(catalog_pb2.WatchCatalogRequest(since_version=0), timeout=60)
    snapshot = await stream.read()
    edited = provider.models[0]["id"]
    added = dict(
        provider.models[1],
        id="acme/brand-new:free",
        canonical_slug="acme/brand-new",
        pricing={"prompt": "0", "completion": "0"},
    )
    provider.edit(edited, context_length=provider.models[0]["context_length"] + 1)
    provider.add(added)

    await refresh(stub)
    first, second = await stream.read(), await stream.read()
    stream.cancel()

    assert snapshot.WhichOneof("kind") == "snapshot"
    assert snapshot.version == version
    assert len(snapshot.snapshot.models) == version
    assert [first.version, second.version] == [version + 1, version + 2]
    changes = {e.change.type: e.change for e in (first, second)}
    assert changes[catalog_pb2.CHANGE_TYPE_CHANGED].model_id == f"openrouter/{edited}"
    assert "context_window" in changes[catalog_pb2.CHANGE_TYPE_CHANGED].changed_fields
    assert changes[catalog_pb2.CHANGE_TYPE_ADDED].new.is_free
    assert changes[catalog_pb2.CHANGE_TYPE_ADDED].model_id == "openrouter/acme/brand-new:free"
