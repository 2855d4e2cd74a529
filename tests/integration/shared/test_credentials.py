"""The service credential: a server with a token refuses every call without it (streams
included) UNAUTHENTICATED before any servicer runs; health stays open, reflection does
not; a channel built with the token carries it on every call, beside the caller's own
metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from services.shared.channels import channel
from services.shared.logs import request_id
from services.shared.server import Registration, RunningServer, start_server

TOKEN = "unit-test-service-token-0123456789"
CATALOG = "freeway.catalog.v1.CatalogService"
ANALYTICS = "freeway.analytics.v1.AnalyticsService"


class Catalog(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self) -> None:
        self.calls = 0

    async def GetModel(
        self, request: catalog_pb2.GetModelRequest, context: Any
    ) -> common_pb2.Model:
        self.calls += 1
        return common_pb2.Model(id=request.id, display_name=request_id.get())


class Analytics(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self) -> None:
        self.stored: list[analytics_pb2.UsageEvent] = []

    async def Ingest(
        self, requests: AsyncIterator[analytics_pb2.IngestRequest], context: Any
    ) -> AsyncIterator[analytics_pb2.IngestAck]:
        async for request in requests:
            self.stored.extend(request.events)
            yield analytics_pb2.IngestAck(sequence=request.sequence, stored=len(request.events))


@dataclass
class Served:
    running: RunningServer
    catalog: Catalog
    analytics: Analytics

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"


def _catalog(servicer: Catalog) -> Registration:
    add = catalog_pb2_grpc.add_CatalogServiceServicer_to_server
    return Registration(add, servicer, CATALOG)


@pytest.fixture
async def server() -> AsyncIterator[Served]:
    catalog, analytics = Catalog(), Analytics()  # type: ignore[abstract]
    add = analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server
    registrations = [_catalog(catalog), Registration(add, analytics, ANALYTICS)]
    running = await start_server("test", "127.0.0.1:0", registrations, token=TOKEN)
    yield Served(running, catalog, analytics)
    await running.stop(1)


@pytest.mark.parametrize("token", [None, "wrong-token-of-enough-length-0000"])
async def test_unary_and_stream_calls_without_the_token_are_refused(
    server: Served, token: str | None
) -> None:
    async with channel(server.address, token) as ch:
        stub = catalog_pb2_grpc.CatalogServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as unary:
            await stub.GetModel(catalog_pb2.GetModelRequest(id="x"))
        assert unary.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "FREEWAY_SERVICE_TOKEN" in (unary.value.details() or "")
        forged = analytics_pb2.UsageEvent(event_id="forged", key_id="admin", cost_usd=12345.67)
        call = analytics_pb2_grpc.AnalyticsServiceStub(ch).Ingest()
        request = analytics_pb2.IngestRequest(sequence=1, events=[forged])
        with pytest.raises(grpc.aio.AioRpcError) as stream:
            await _write_then_read(call, request)
        assert stream.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert server.catalog.calls == 0
    assert server.analytics.stored == []


async def _write_then_read(call: Any, request: Any) -> Any:
    await call.write(request)
    return await call.read()


async def test_health_is_open_and_reflection_is_not(server: Served) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        call = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo()
        listing = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _write_then_read(call, listing)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_channel_with_the_token_carries_it_with_the_callers_metadata(
    server: Served,
) -> None:
    async with channel(server.address, TOKEN) as ch:
        model = await catalog_pb2_grpc.CatalogServiceStub(ch).GetModel(
            catalog_pb2.GetModelRequest(id="known"), metadata=(("x-request-id", "req-7"),)
        )
        assert (model.id, model.display_name) == ("known", "req-7")
        call = analytics_pb2_grpc.AnalyticsServiceStub(ch).Ingest()
        event = analytics_pb2.UsageEvent(event_id="real", key_id="key-1")
        await call.write(analytics_pb2.IngestRequest(sequence=3, events=[event]))
        ack = await call.read()
        await call.done_writing()
        assert ack.sequence == 3
        refl = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo()
        await refl.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        listed = await refl.read()
        await refl.done_writing()
        assert CATALOG in {s.name for s in listed.list_services_response.service}


async def test_a_channel_can_reach_replicas_round_robin() -> None:
    servers = []
    for _ in range(2):
        reg = _catalog(Catalog())  # type: ignore[abstract]
        servers.append(await start_server("replica", "127.0.0.1:0", [reg], token=TOKEN))
    try:
        both = ",".join(f"127.0.0.1:{s.port}" for s in servers)
        async with channel(both, TOKEN) as ch:
            stub = catalog_pb2_grpc.CatalogServiceStub(ch)
            await servers[0].stop(0)  # one replica gone: calls go to the other
            for _ in range(5):
                reply = await stub.GetModel(catalog_pb2.GetModelRequest(id="r"), timeout=5)
                assert reply.id == "r"
    finally:
        for running in servers:
            await running.stop(0)
