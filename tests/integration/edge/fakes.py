"""In-test RouterService and CatalogService servicers, served by real grpc.aio servers on
loopback through the shared server bootstrap (so request ids arrive as they would)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2, router_pb2_grpc
from services.router.exchange import ExchangeServicer
from services.router.request import read_request
from services.shared.logs import request_id
from services.shared.server import Registration, RunningServer, start_server

SERVED_MODEL = "openrouter/meta-llama/llama-3.3-70b-instruct:free"


@dataclass
class Failure:
    """Abort with `code`; for streams, after `after_chunks` chunks were sent."""

    code: grpc.StatusCode
    details: str
    after_chunks: int = 0
    trailing: tuple[tuple[str, str], ...] = ()


@dataclass
class Seen:
    """One call as the fake received it, with the request id its interceptor saw."""

    method: str
    request: router_pb2.CompletionRequest
    request_id: str


@dataclass
class FakeRouter(ExchangeServicer, router_pb2_grpc.RouterServiceServicer):
    seen: list[Seen] = field(default_factory=list)
    failure: Failure | None = None
    crash: bool = False
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def _record(self, method: str, request: router_pb2.CompletionRequest) -> None:
        """Validate the body as the router does (its one reader), then note the call."""
        read_request(request.body)
        self.seen.append(Seen(method, request, request_id.get()))

    async def _maybe_fail(self, context: grpc.aio.ServicerContext, sent: int = 0) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.crash:
            raise RuntimeError("the fake router crashed")
        failure = self.failure
        if failure is not None and failure.after_chunks == sent:
            if failure.trailing:
                context.set_trailing_metadata(failure.trailing)
            await context.abort(failure.code, failure.details)

    async def Route(
        self, request: router_pb2.CompletionRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.RouteDecision:
        self._record("Route", request)
        await self._maybe_fail(context)
        return decision(request)

    async def Complete(
        self, request: router_pb2.CompletionRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.CompletionResponse:
        self._record("Complete", request)
        await self._maybe_fail(context)
        body = {
            "id": "chatcmpl-fake-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": SERVED_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply_text(request)},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
            "freeway": {"provider": "openrouter"},
        }
        return router_pb2.CompletionResponse(
            body=json.dumps(body), outcome=outcome(request, usage=(7, 5))
        )

    async def CompleteStream(
        self, request: router_pb2.CompletionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.CompletionChunk]:
        self._record("CompleteStream", request)
        try:
            for sent, chunk in enumerate(chunks(request)):
                await self._maybe_fail(context, sent)
                if sent and self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                yield chunk
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def ProviderHealth(
        self, request: router_pb2.ProviderHealthRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ProviderHealthResponse:
        return router_pb2.ProviderHealthResponse()


def reply_text(request: router_pb2.CompletionRequest) -> str:
    content = json.loads(request.body)["messages"][-1].get("content")
    return f"echo: {content if isinstance(content, str) else 'parts'}"


def outcome(
    request: router_pb2.CompletionRequest, usage: tuple[int, int] | None = None
) -> router_pb2.Outcome:
    """Who answers the fake's requests (with usage once known), and at what cost."""
    message = router_pb2.Outcome(
        id="chatcmpl-fake-2",
        model=SERVED_MODEL,
        provider="openrouter",
        strategy=request.strategy or common_pb2.STRATEGY_FREE_FIRST,
        complexity=0.2,
        attempts=1,
        reason="cheapest free model",
        free=True,
    )
    if usage is not None:
        message.usage.CopyFrom(
            common_pb2.Usage(
                prompt_tokens=usage[0], completion_tokens=usage[1], total_tokens=sum(usage)
            )
        )
        message.cost_usd = 0.0
        message.saved_usd = 0.0000042
    return message


def stream_event(delta: dict[str, str], finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-fake-2",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": SERVED_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def chunks(request: router_pb2.CompletionRequest) -> list[router_pb2.CompletionChunk]:
    """As the router streams: who answers on the first message, usage on the last (and
    OpenAI's usage chunk when the body asked for it)."""
    words = reply_text(request).split(" ")
    pieces = [w + " " for w in words[:-1]] + words[-1:]
    first, *rest = pieces
    body = json.loads(request.body)
    wants_usage = body.get("stream_options", {}).get("include_usage", False)
    last_events = [stream_event({}, "stop")]
    if wants_usage:
        usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        last_events.append(
            json.dumps(
                {
                    "id": "chatcmpl-fake-2",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": SERVED_MODEL,
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    return [
        router_pb2.CompletionChunk(
            events=[stream_event({"role": "assistant", "content": first})],
            outcome=outcome(request),
        ),
        *(router_pb2.CompletionChunk(events=[stream_event({"content": p})]) for p in rest),
        router_pb2.CompletionChunk(events=last_events, outcome=outcome(request, usage=(7, 3))),
    ]


def decision(request: router_pb2.CompletionRequest) -> router_pb2.RouteDecision:
    return router_pb2.RouteDecision(
        chosen=router_pb2.Candidate(model_id=SERVED_MODEL, provider="openrouter", is_free=True),
        fallbacks=[router_pb2.Candidate(model_id="groq/llama-3.1-8b-instant", provider="groq")],
        complexity=0.2,
        features=[router_pb2.FeatureContribution(name="length", value=1.0, contribution=-0.5)],
        strategy=request.strategy
        or read_request(request.body).strategy
        or common_pb2.STRATEGY_FREE_FIRST,  # type: ignore[arg-type]
        reason="cheapest free model",
        catalog_version=3,
    )


def models() -> list[common_pb2.Model]:
    seen = Timestamp(seconds=1_700_000_000)
    return [
        common_pb2.Model(
            id=SERVED_MODEL,
            provider="openrouter",
            upstream_id="meta-llama/llama-3.3-70b-instruct:free",
            is_free=True,
            free_reason=common_pb2.FREE_REASON_FREE_VARIANT,
            context_window=131072,
            first_seen=seen,
            input_price_per_mtok=0.0,
            output_price_per_mtok=0.0,
        ),
        common_pb2.Model(
            id="groq/llama-3.1-8b-instant",
            provider="groq",
            upstream_id="llama-3.1-8b-instant",
            is_free=True,
            free_reason=common_pb2.FREE_REASON_PROVIDER_FREE_TIER,
            context_window=131072,
            first_seen=seen,
        ),
        common_pb2.Model(
            id="openai/gpt-4o",
            provider="openai",
            upstream_id="gpt-4o",
            display_name="GPT-4o",
            is_free=False,
            input_price_per_mtok=2.5,
            output_price_per_mtok=10.0,
            price_source="provider",
            context_window=128_000,
            max_output_tokens=16_384,
            capabilities=[common_pb2.CAPABILITY_TOOLS, common_pb2.CAPABILITY_VISION],
            input_modalities=["text", "image"],
            output_modalities=["text"],
            first_seen=seen,
            last_seen=Timestamp(seconds=1_700_000_600),
            status="active",
            extra={"owned_by": '"openai"', "created": "1715367049"},
        ),
        common_pb2.Model(
            id="mistral/mystery-large",
            provider="mistral",
            upstream_id="mystery-large",
            is_free=False,
            context_window=32_000,
            first_seen=seen,
        ),
    ]


def providers() -> list[catalog_pb2.ProviderStatus]:
    return [
        catalog_pb2.ProviderStatus(
            name="openrouter",
            format="openrouter",
            base_url="https://openrouter.ai/api/v1",
            healthy=True,
            last_success=Timestamp(seconds=1_700_000_000),
            next_poll=Timestamp(seconds=1_700_003_600),
            model_count=1,
            free_count=1,
        ),
        catalog_pb2.ProviderStatus(
            name="mistral",
            format="mistral",
            base_url="https://api.mistral.ai/v1",
            healthy=False,
            last_error="HTTP 503 from https://api.mistral.ai/v1/models",
            model_count=1,
            unpriced_count=1,
        ),
        catalog_pb2.ProviderStatus(
            name="groq",
            format="openai",
            base_url="https://api.groq.com/openai/v1",
            last_error="missing API key GROQ_API_KEY",
            unpriced_count=1,
        ),
    ]


def history(models: list[common_pb2.Model]) -> list[catalog_pb2.CatalogEvent]:
    """Versions 1–3: ADDED, CHANGED (context window), REMOVED."""
    first, changed = models[0], common_pb2.Model()
    changed.CopyFrom(first)
    changed.context_window = first.context_window * 2
    at = Timestamp(seconds=1_700_000_100)
    return [
        catalog_pb2.CatalogEvent(
            version=1,
            at=at,
            change=catalog_pb2.ModelChange(
                type=catalog_pb2.CHANGE_TYPE_ADDED, model_id=first.id, new=first
            ),
        ),
        catalog_pb2.CatalogEvent(
            version=2,
            at=at,
            change=catalog_pb2.ModelChange(
                type=catalog_pb2.CHANGE_TYPE_CHANGED,
                model_id=first.id,
                old=first,
                new=changed,
                changed_fields=["context_window"],
            ),
        ),
        catalog_pb2.CatalogEvent(
            version=3,
            at=at,
            change=catalog_pb2.ModelChange(
                type=catalog_pb2.CHANGE_TYPE_REMOVED, model_id=first.id, old=changed
            ),
        ),
    ]


@dataclass
class FakeCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    version: int = 3
    requests: list[catalog_pb2.ListModelsRequest] = field(default_factory=list)
    models: list[common_pb2.Model] = field(default_factory=lambda: models())
    providers: list[catalog_pb2.ProviderStatus] = field(default_factory=lambda: providers())
    history: list[catalog_pb2.CatalogEvent] = field(default_factory=lambda: history(models()))
    change_requests: list[catalog_pb2.ListChangesRequest] = field(default_factory=list)
    alerts: list[catalog_pb2.Alert] = field(default_factory=lambda: alerts())
    alert_requests: list[catalog_pb2.ListAlertsRequest] = field(default_factory=list)

    async def ListModels(
        self, request: catalog_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListModelsResponse:
        self.requests.append(request)
        listed = [m for m in self.models if matches(m, request)]
        return catalog_pb2.ListModelsResponse(models=listed, version=self.version)

    async def GetModel(
        self, request: catalog_pb2.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Model:
        for model in self.models:
            if model.id == request.id:
                return model
        await context.abort(grpc.StatusCode.NOT_FOUND, f"id: no model {request.id!r}")
        raise AssertionError("abort returns never")

    async def ListProviders(
        self, request: catalog_pb2.ListProvidersRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListProvidersResponse:
        return catalog_pb2.ListProvidersResponse(providers=self.providers)

    async def ListChanges(
        self, request: catalog_pb2.ListChangesRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListChangesResponse:
        """Like the catalog: history starts at version 1; limit 0 means 500."""
        self.change_requests.append(request)
        limit = request.limit or 500
        after = [e for e in self.history if e.version > request.since_version]
        truncated = request.since_version > self.version
        return catalog_pb2.ListChangesResponse(
            events=[] if truncated else after[:limit],
            version=self.version,
            history_truncated=truncated,
            more=not truncated and len(after) > limit,
        )

    async def RefreshProvider(
        self, request: catalog_pb2.RefreshProviderRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.RefreshProviderResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the fake")
        raise AssertionError("abort returns never")

    async def WatchCatalog(
        self, request: catalog_pb2.WatchCatalogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[catalog_pb2.CatalogEvent]:
        yield catalog_pb2.CatalogEvent(version=self.version)

    async def ListAlerts(
        self, request: catalog_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListAlertsResponse:
        """Like the catalog: newest first, filtered by kind, limit 0 means 100."""
        self.alert_requests.append(request)
        limit = request.limit or 100
        found = [
            a
            for a in reversed(self.alerts)
            if (not request.kinds or a.kind in request.kinds)
            and (not request.before_seq or a.seq < request.before_seq)
        ]
        return catalog_pb2.ListAlertsResponse(
            alerts=found[:limit],
            last_seq=max((a.seq for a in self.alerts), default=0),
            more=len(found) > limit,
        )

    async def RaiseAlert(
        self, request: catalog_pb2.RaiseAlertRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.RaiseAlertResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in the fake")
        raise AssertionError("abort returns never")

    async def WatchAlerts(
        self, request: catalog_pb2.WatchAlertsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[catalog_pb2.Alert]:
        for alert in self.alerts:
            if alert.seq > request.since_seq:
                yield alert


def alerts() -> list[catalog_pb2.Alert]:
    """A went-paid alert, then a provider-down one (seq 1 and 2)."""
    paid = catalog_pb2.Alert(
        seq=1,
        id="went_paid:openrouter/m:free:4",
        kind=catalog_pb2.ALERT_KIND_WENT_PAID,
        severity=catalog_pb2.ALERT_SEVERITY_CRITICAL,
        subject="openrouter/m:free",
        provider="openrouter",
        model_id="openrouter/m:free",
        message="openrouter/m:free is no longer free",
        source="catalog",
        values=[
            catalog_pb2.AlertValue(
                field="is_free",
                old=struct_pb2.Value(bool_value=True),
                new=struct_pb2.Value(bool_value=False),
            ),
            catalog_pb2.AlertValue(
                field="input_price_per_mtok",
                old=struct_pb2.Value(number_value=0),
                new=struct_pb2.Value(number_value=1.5),
            ),
        ],
    )
    paid.at.FromSeconds(1_700_000_000)
    down = catalog_pb2.Alert(
        seq=2,
        id="provider_down:groq:0",
        kind=catalog_pb2.ALERT_KIND_PROVIDER_DOWN,
        severity=catalog_pb2.ALERT_SEVERITY_CRITICAL,
        subject="groq",
        provider="groq",
        message="provider groq failed 3 polls in a row",
        source="catalog",
        values=[
            catalog_pb2.AlertValue(
                field="last_error",
                old=struct_pb2.Value(null_value=struct_pb2.NULL_VALUE),
                new=struct_pb2.Value(string_value="HTTP 503"),
            )
        ],
    )
    return [paid, down]


def matches(model: common_pb2.Model, request: catalog_pb2.ListModelsRequest) -> bool:
    return (
        (model.is_free or not request.free_only)
        and (not request.provider or model.provider == request.provider)
        and set(request.capabilities) <= set(model.capabilities)
        and model.context_window >= request.min_context
    )


async def serve_router(router: FakeRouter) -> RunningServer:
    registration = Registration(
        router_pb2_grpc.add_RouterServiceServicer_to_server,
        router,
        "freeway.router.v1.RouterService",
    )
    return await start_server("fake-router", "127.0.0.1:0", [registration])


async def serve_catalog(catalog: FakeCatalog) -> RunningServer:
    registration = Registration(
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
        catalog,
        "freeway.catalog.v1.CatalogService",
    )
    return await start_server("fake-catalog", "127.0.0.1:0", [registration])
