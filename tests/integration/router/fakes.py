"""Test equipment for the router: an in-test CatalogService, AnalyticsService and an
OpenAI-compatible upstream, each a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
from aiohttp import web

from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from services.shared.server import Registration, RunningServer, start_server

TOOLS, VISION, JSON_MODE = 1, 2, 3
MODELS_FOR_CACHE = [
    common_pb2.Model(
        id="t/ok", provider="t", upstream_id="ok", context_window=32_000, is_free=True,
        input_price_per_mtok=0.0, output_price_per_mtok=0.0, quality=0.9, status="active",
    )
]  # fmt: skip


def model(
    name: str,
    quality: float,
    *,
    provider: str = "t",
    free: bool = True,
    price: float = 0.0,
    context: int = 32_000,
    capabilities: Iterable[int] = (),
    free_tier: common_pb2.QuotaLimits | None = None,
) -> common_pb2.Model:
    """A catalogue record like the catalog serves (upstream id = the scripted behaviour)."""
    return common_pb2.Model(
        id=f"{provider}/{name}",
        provider=provider,
        upstream_id=name,
        display_name=name,
        context_window=context,
        input_price_per_mtok=price,
        output_price_per_mtok=price * 4,
        is_free=free,
        free_reason=common_pb2.FREE_REASON_ZERO_PRICE
        if free
        else common_pb2.FREE_REASON_UNSPECIFIED,
        capabilities=[common_pb2.Capability.Name(c) for c in capabilities],
        quality=quality,
        status="active",
        free_tier=free_tier,
    )


class FakeCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """WatchCatalog: a snapshot of the current models, then every change pushed by the test."""

    def __init__(self, models: Iterable[common_pb2.Model]) -> None:
        self.models = {m.id: m for m in models}
        self.version = 1
        self.watchers: list[asyncio.Queue[catalog_pb2.CatalogEvent]] = []
        self.requests: list[int] = []
        self.alerts: list[catalog_pb2.Alert] = []
        self.server: RunningServer | None = None

    async def start(self, address: str = "127.0.0.1:0") -> int:
        add = catalog_pb2_grpc.add_CatalogServiceServicer_to_server
        registration = Registration(add, self, "freeway.catalog.v1.CatalogService")
        self.server = await start_server("fake-catalog", address, [registration])
        return self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)
            self.server = None

    async def WatchCatalog(
        self, request: catalog_pb2.WatchCatalogRequest, context: Any
    ) -> AsyncIterator[catalog_pb2.CatalogEvent]:
        self.requests.append(request.since_version)
        queue: asyncio.Queue[catalog_pb2.CatalogEvent] = asyncio.Queue()
        self.watchers.append(queue)
        try:
            snapshot = catalog_pb2.Snapshot(models=list(self.models.values()))
            yield catalog_pb2.CatalogEvent(version=self.version, snapshot=snapshot)
            while True:
                yield await queue.get()
        finally:
            self.watchers.remove(queue)

    async def ListModels(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")

    async def GetModel(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")

    async def ListProviders(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")

    async def RefreshProvider(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")

    async def ListChanges(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")

    async def RaiseAlert(self, request: Any, context: Any) -> Any:
        self.alerts.append(request.alert)
        return catalog_pb2.RaiseAlertResponse(alert=request.alert)

    async def ListAlerts(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")

    async def WatchAlerts(self, request: Any, context: Any) -> AsyncIterator[catalog_pb2.Alert]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")
        yield catalog_pb2.Alert()  # never reached: makes this a stream

    def add(self, record: common_pb2.Model) -> int:
        self.models[record.id] = record
        change = catalog_pb2.ModelChange(
            type=catalog_pb2.CHANGE_TYPE_ADDED, model_id=record.id, new=record
        )
        return self._publish(change)

    def remove(self, model_id: str) -> int:
        old = self.models.pop(model_id)
        change = catalog_pb2.ModelChange(
            type=catalog_pb2.CHANGE_TYPE_REMOVED, model_id=model_id, old=old
        )
        return self._publish(change)

    def _publish(self, change: catalog_pb2.ModelChange) -> int:
        self.version += 1
        event = catalog_pb2.CatalogEvent(version=self.version, change=change)
        for queue in self.watchers:
            queue.put_nowait(event)
        return self.version


class FakeAnalytics(analytics_pb2_grpc.AnalyticsServiceServicer):
    """Ingest: stores events by id (idempotent, like the real one) and acks every batch."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse  # request ids whose batch is refused as INVALID_ARGUMENT
        self.events: dict[str, analytics_pb2.UsageEvent] = {}
        self.duplicates = 0
        self.batches = 0
        self.server: RunningServer | None = None

    async def start(self, address: str = "127.0.0.1:0") -> int:
        add = analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server
        registration = Registration(add, self, "freeway.analytics.v1.AnalyticsService")
        self.server = await start_server("fake-analytics", address, [registration])
        return self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)
            self.server = None

    async def Ingest(
        self, requests: AsyncIterator[analytics_pb2.IngestRequest], context: Any
    ) -> AsyncIterator[analytics_pb2.IngestAck]:
        async for request in requests:
            refused = [e.request_id for e in request.events if e.request_id in self.refuse]
            if refused:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"refused {refused[0]}")
            stored = 0
            for event in request.events:
                if event.event_id in self.events:
                    self.duplicates += 1
                else:
                    self.events[event.event_id] = event
                    stored += 1
            self.batches += 1
            yield analytics_pb2.IngestAck(
                sequence=request.sequence, stored=stored, duplicates=len(request.events) - stored
            )

    async def Summary(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")

    # The queries are not part of the fake either (the router only ingests).
    Timeseries = Savings = Forecast = RecordFeedback = Summary

    async def Export(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the fake")
        yield  # a server stream

    WatchMetrics = WatchUsage = Export

    def by_request(self, request_id: str) -> analytics_pb2.UsageEvent:
        (event,) = [e for e in self.events.values() if e.request_id == request_id]
        return event

    async def wait_for(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"analytics holds {len(self.events)} events, expected {count}")
            await asyncio.sleep(0.02)


USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def completion(model_name: str, usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1718000000,
        "model": model_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"hello from {model_name}"},
                "finish_reason": "stop",
            }
        ],
    }
    if usage:
        body["usage"] = USAGE
    return body


def chunk(model_name: str, delta: dict[str, str], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": model_name,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class FakeUpstream:
    """OpenAI-compatible chat on loopback; the requested model name picks the behaviour:
    ok, nousage, limited (429 + Retry-After), broken (500), garbage (bad JSON),
    slow (answers after 10 s), reject (400), cut (stream breaks after one chunk),
    endcut (stream breaks after its finish chunk, before [DONE]),
    hang (stream stalls after one chunk until the client goes away)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.disconnected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{provider}/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def count(self, name: str) -> int:
        return self.calls.count(name)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        name = body["model"]
        self.calls.append(name)
        self.bodies.append(body)
        self.auth.append(request.headers.get("Authorization", ""))
        if name == "limited":
            error = {"error": {"message": "rate limit reached", "code": 429}}
            return web.json_response(error, status=429, headers={"Retry-After": "60"})
        if name == "broken":
            return web.json_response({"error": {"message": "internal failure"}}, status=500)
        if name == "reject":
            error = {"error": {"message": "messages[0].content is too long"}}
            return web.json_response(error, status=400)
        if name == "garbage":
            return web.Response(text="{this is not json", content_type="application/json")
        if name == "slow":
            await asyncio.sleep(10)
        if body.get("stream"):
            return await self._stream(request, name, body)
        return web.json_response(completion(name, usage=name != "nousage"))

    async def _stream(
        self, request: web.Request, name: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": PROCESSING\n\n")
        await response.write(chunk(name, {"role": "assistant", "content": ""}))
        await response.write(chunk(name, {"content": "Hel"}))
        if name == "cut":
            assert request.transport is not None
            request.transport.close()
            return response
        if name == "hang":
            await self._hold(response)
            return response
        await response.write(chunk(name, {"content": "lo"}))
        await response.write(chunk(name, {}, finish="stop"))
        if name == "endcut":
            assert request.transport is not None
            request.transport.close()
            return response
        wants_usage = body.get("stream_options", {}).get("include_usage")
        if wants_usage and name != "nousage":
            usage = {"id": "chatcmpl-stream", "choices": [], "usage": USAGE}
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _hold(self, response: web.StreamResponse) -> None:
        """Keep the stream open with comments until writing fails: the client went away."""
        try:
            while True:
                await asyncio.sleep(0.05)
                await response.write(b": keep-alive\n\n")
        except (ConnectionError, RuntimeError):
            pass  # writing failed: the client closed the connection
        finally:  # also when the server cancels the handler for the same reason
            self.disconnected.set()
