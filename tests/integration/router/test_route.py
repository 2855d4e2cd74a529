"""Route over real gRPC: decisions from the watched catalogue, errors as status codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from native import kernel
from tests.conftest import free_port
from tests.integration.router.conftest import Harness, request, router_stub, start_router
from tests.integration.router.fakes import VISION, FakeCatalog, FakeUpstream, model


async def test_route_decision_explains_itself(harness: Harness) -> None:
    decision = await harness.stub.Route(request("t"))
    assert decision.chosen.model_id == "t/reject"  # best free model of callable provider t
    assert [c.model_id for c in decision.fallbacks] == ["t/limited", "t/broken", "t/garbage"]
    assert decision.chosen.is_free
    assert decision.strategy == common_pb2.STRATEGY_FREE_FIRST
    assert decision.catalog_version == harness.catalog.version
    assert decision.reason.startswith("free-first: t/reject (free, quality 0.99")
    assert 0.0 <= decision.complexity <= 1.0
    assert [f.name for f in decision.features] == list(kernel.FEATURE_NAMES)
    assert decision.decision_us > 0
    assert harness.upstream.calls == []  # Route calls no provider


async def test_uncallable_and_paid_models_are_never_chosen(harness: Harness) -> None:
    decision = await harness.stub.Route(request())
    chosen = [decision.chosen.model_id, *(c.model_id for c in decision.fallbacks)]
    assert "nokey/ok" not in chosen
    assert "t/paid" not in chosen


async def test_capability_constraint(harness: Harness) -> None:
    constrained = request()
    constrained.constraints.capabilities.append(common_pb2.CAPABILITY_VISION)
    decision = await harness.stub.Route(constrained)
    assert (decision.chosen.model_id, len(decision.fallbacks)) == ("t/vision", 0)


async def test_explicit_model_and_unknown_model(harness: Harness) -> None:
    decision = await harness.stub.Route(request(model="t/ok"))
    assert (decision.chosen.model_id, len(decision.fallbacks)) == ("t/ok", 0)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Route(request(model="t/nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "model: no model 't/nope' in the catalogue"


async def test_no_capable_candidate_is_invalid_argument_with_the_nearest(
    harness: Harness,
) -> None:
    impossible = request()
    impossible.constraints.capabilities.extend(
        [common_pb2.CAPABILITY_TOOLS, common_pb2.CAPABILITY_VISION]
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Route(impossible)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert "offers tools and vision together" in details
    assert "t/tools (lacks vision)" in details
    assert ("freeway-code", "model_not_capable") in list(caught.value.trailing_metadata() or ())


async def test_invalid_request_names_the_field(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Route(router_pb2.CompletionRequest(body='{"model": "auto"}'))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("messages:")


async def test_catalog_changes_reach_routing(harness: Harness) -> None:
    version = harness.catalog.add(model("fresh", 0.999))
    await asyncio.wait_for(harness.app.watcher.wait_for_version(version), 5)
    decision = await harness.stub.Route(request("t/fresh", "t/ok"))
    assert [decision.chosen.model_id, *(c.model_id for c in decision.fallbacks)] == [
        "t/fresh",
        "t/ok",
    ]
    version = harness.catalog.remove("t/fresh")
    await asyncio.wait_for(harness.app.watcher.wait_for_version(version), 5)
    decision = await harness.stub.Route(request("t/fresh", "t/ok"))
    assert (decision.chosen.model_id, len(decision.fallbacks)) == ("t/ok", 0)
    assert decision.catalog_version == version


async def test_catalog_down_keeps_the_last_snapshot_and_resumes(tmp_path: Path) -> None:
    port = free_port()
    catalog = FakeCatalog([model("ok", 0.7)])
    await catalog.start(f"127.0.0.1:{port}")
    upstream = FakeUpstream()
    url = await upstream.start()
    app = await start_router(tmp_path, f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}", url)
    revived = FakeCatalog([model("ok", 0.7), model("vision", 0.9, capabilities=[VISION])])
    revived.version = 5
    try:
        await asyncio.wait_for(app.watcher.ready.wait(), 10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = router_stub(channel)
            await catalog.stop()
            decision = await stub.Route(request())
            assert decision.chosen.model_id == "t/ok"  # routed on the last snapshot
            await revived.start(f"127.0.0.1:{port}")
            await asyncio.wait_for(app.watcher.wait_for_version(5), 20)
            assert revived.requests[-1] == 1  # asked for what came after the version it held
            assert (await stub.Route(request())).chosen.model_id == "t/vision"
    finally:
        await app.stop()
        await upstream.stop()
        await revived.stop()
        await catalog.stop()


async def test_empty_catalogue_says_what_to_do(tmp_path: Path) -> None:
    catalog = FakeCatalog([])
    port = await catalog.start()
    analytics = f"127.0.0.1:{free_port()}"
    app = await start_router(tmp_path, f"127.0.0.1:{port}", analytics, "http://127.0.0.1:9")
    try:
        await asyncio.wait_for(app.watcher.ready.wait(), 10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = router_stub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Route(request())
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert caught.value.details() == (
            "no free model fits: 0 models in catalogue (is a provider configured with its API key?)"
        )
    finally:
        await app.stop()
        await catalog.stop()


async def test_models_that_do_not_chat_are_never_routed_to(tmp_path: Path) -> None:
    speech = model("tts", 0.99)
    speech.output_modalities[:] = ["audio"]
    guard = model("guard", 0.98)
    guard.output_modalities[:] = ["classification"]
    catalog = FakeCatalog([speech, guard, model("ok", 0.5)])
    port = await catalog.start()
    app = await start_router(
        tmp_path, f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}", "http://127.0.0.1:9"
    )
    try:
        await asyncio.wait_for(app.watcher.ready.wait(), 10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            decision = await router_stub(channel).Route(request())
        assert (decision.chosen.model_id, list(decision.fallbacks)) == ("t/ok", [])
    finally:
        await app.stop()
        await catalog.stop()
