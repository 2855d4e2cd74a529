"""The shared server shape: health, reflection, request ids, error mapping, graceful stop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from services.shared.errors import NotFound
from services.shared.logs import request_id
from services.shared.server import Registration, RunningServer, start_server

SERVICE = "freeway.catalog.v1.CatalogService"


class Catalog(catalog_pb2_grpc.CatalogServiceServicer):
    async def GetModel(
        self, request: catalog_pb2.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Model:
        if request.id == "crash":
            raise RuntimeError("secret internals")
        if request.id != "known":
            raise NotFound(f"no model {request.id!r}", field="id")
        return common_pb2.Model(id="known", display_name=request_id.get())


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    reg = Registration(catalog_pb2_grpc.add_CatalogServiceServicer_to_server, Catalog(), SERVICE)  # type: ignore[abstract]
    running = await start_server("test", "127.0.0.1:0", [reg])
    yield running
    await running.stop(1)


async def test_health_reflection_and_request_id(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        call = refl.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        answer = await call.read()
        await call.done_writing()
        names = {s.name for s in answer.list_services_response.service}
        assert {SERVICE, "grpc.health.v1.Health"} <= names
        stub = catalog_pb2_grpc.CatalogServiceStub(ch)
        model = await stub.GetModel(
            catalog_pb2.GetModelRequest(id="known"), metadata=(("x-request-id", "req-42"),)
        )
        assert model.display_name == "req-42"


async def test_domain_errors_map_to_status_and_crashes_hide_internals(
    server: RunningServer,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        stub = catalog_pb2_grpc.CatalogServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetModel(catalog_pb2.GetModelRequest(id="gone"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert missing.value.details() == "id: no model 'gone'"
        with pytest.raises(grpc.aio.AioRpcError) as crash:
            await stub.GetModel(
                catalog_pb2.GetModelRequest(id="crash"), metadata=(("x-request-id", "req-7"),)
            )
        assert crash.value.code() == grpc.StatusCode.INTERNAL
        assert crash.value.details() == "internal error (request id req-7)"


async def test_stop_flips_health_to_not_serving() -> None:
    reg = Registration(catalog_pb2_grpc.add_CatalogServiceServicer_to_server, Catalog(), SERVICE)  # type: ignore[abstract]
    running = await start_server("test", "127.0.0.1:0", [reg])
    await running.health.enter_graceful_shutdown()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    await running.stop(1)


async def test_port_in_use_is_a_clear_error(server: RunningServer) -> None:
    reg = Registration(catalog_pb2_grpc.add_CatalogServiceServicer_to_server, Catalog(), SERVICE)  # type: ignore[abstract]
    with pytest.raises(OSError, match="cannot listen on"):
        await start_server("dup", f"127.0.0.1:{server.port}", [reg])
