"""RouterService over gRPC: translate messages to the pipeline's terms and back, nothing else.
Errors are typed domain errors; the shared interceptor maps them to status codes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator
from typing import Any

from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.router import health_report, wire
from services.router.exchange import ExchangeServicer
from services.router.pipeline import Pipeline
from services.shared.errors import InvalidArgument
from services.shared.logs import request_id

SERVICE_NAME = "freeway.router.v1.RouterService"


class RouterServicer(ExchangeServicer, router_pb2_grpc.RouterServiceServicer):
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def Route(
        self, request: router_pb2.CompletionRequest, context: Any
    ) -> router_pb2.RouteDecision:
        chat = wire.chat_request(request)
        return wire.decision_message(self.pipeline.route(wire.route_request(request, chat)))

    async def Complete(
        self, request: router_pb2.CompletionRequest, context: Any
    ) -> router_pb2.CompletionResponse:
        call = wire.completion_call(request, request_id.get())
        body, outcome = await self.pipeline.complete(call, _deadline(context))
        return wire.completion_message(body, outcome)

    async def CompleteStream(
        self, request: router_pb2.CompletionRequest, context: Any
    ) -> AsyncGenerator[router_pb2.CompletionChunk, None]:
        call = wire.completion_call(request, request_id.get())
        if call.chat.stream is False:
            raise InvalidArgument("is false: call Complete for a whole answer", field="stream")
        parts = self.pipeline.stream(call, _deadline(context))
        async with contextlib.aclosing(parts):
            async for part in parts:
                yield wire.chunk_message(part)

    async def ProviderHealth(
        self, request: router_pb2.ProviderHealthRequest, context: Any
    ) -> router_pb2.ProviderHealthResponse:
        router, quota = self.pipeline.router, self.pipeline.quota
        models = health_report.report(router.models, router.board, quota)
        return wire.provider_health_message(models, router.version, quota is not None)


def _deadline(context: Any) -> float | None:
    """The caller's deadline on our monotonic clock (None when the call has none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining
