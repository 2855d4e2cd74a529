"""The AnalyticsService gRPC servicer: proto ↔ domain translation, nothing else.

Domain errors (InvalidArgument naming `events[i].field`) propagate to the shared
interceptor, which turns them into the matching status; for Ingest that ends the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from freeway.common.v1 import common_pb2
from services.analytics.ingest import Batch, acknowledged
from services.analytics.store import UsageStore
from services.analytics.usage import ModelTotals, Strategy, Summary, UsageEvent, UsageStatus
from services.shared.errors import InvalidArgument

V = TypeVar("V")

SERVICE_NAME = "freeway.analytics.v1.AnalyticsService"

_STATUS: dict[int, UsageStatus] = {
    analytics_pb2.USAGE_STATUS_UNSPECIFIED: UsageStatus.UNSPECIFIED,
    analytics_pb2.USAGE_STATUS_OK: UsageStatus.OK,
    analytics_pb2.USAGE_STATUS_ERROR: UsageStatus.ERROR,
    analytics_pb2.USAGE_STATUS_CANCELLED: UsageStatus.CANCELLED,
}
_STRATEGY: dict[int, Strategy] = {
    common_pb2.STRATEGY_UNSPECIFIED: Strategy.UNSPECIFIED,
    common_pb2.STRATEGY_FREE_FIRST: Strategy.FREE_FIRST,
    common_pb2.STRATEGY_COST: Strategy.COST,
    common_pb2.STRATEGY_QUALITY: Strategy.QUALITY,
    common_pb2.STRATEGY_LATENCY: Strategy.LATENCY,
    common_pb2.STRATEGY_HYBRID: Strategy.HYBRID,
    common_pb2.STRATEGY_CASCADE: Strategy.CASCADE,
}


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, store: UsageStore, ingest_depth: int) -> None:
        self.store = store
        self.ingest_depth = ingest_depth

    async def Ingest(
        self, request_iterator: AsyncIterator[analytics_pb2.IngestRequest], context: Any
    ) -> AsyncIterator[analytics_pb2.IngestAck]:
        """One ack per batch, in order, each sent only after its batch is durably stored."""
        batches = (usage_batch(request) async for request in request_iterator)
        async for sequence, result in acknowledged(batches, self.store, self.ingest_depth):
            yield analytics_pb2.IngestAck(
                sequence=sequence, stored=result.stored, duplicates=result.duplicates
            )

    async def Summary(
        self, request: analytics_pb2.SummaryRequest, context: Any
    ) -> analytics_pb2.SummaryResponse:
        since = _time(request.since, "since") if request.HasField("since") else None
        until = _time(request.until, "until") if request.HasField("until") else None
        return summary_response(await self.store.summary(since, until))


def usage_batch(request: analytics_pb2.IngestRequest) -> Batch:
    """One Ingest batch as (sequence, domain events)."""
    return request.sequence, [usage_event(i, event) for i, event in enumerate(request.events)]


def usage_event(index: int, event: analytics_pb2.UsageEvent) -> UsageEvent:
    """The domain event for `events[index]`; enum values this server does not know are
    rejected rather than stored as something else."""
    field = f"events[{index}]"
    return UsageEvent(
        event_id=event.event_id,
        time=_time(event.time, f"{field}.time") if event.HasField("time") else None,
        key_id=event.key_id,
        request_id=event.request_id,
        requested_model=event.requested_model,
        served_model=event.served_model,
        provider=event.provider,
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        cost_usd=event.cost_usd,
        baseline_cost_usd=event.baseline_cost_usd,
        latency_ms=event.latency_ms,
        ttft_ms=event.ttft_ms,
        attempts=event.attempts,
        cache_hit=event.cache_hit,
        status=_known(_STATUS, event.status, f"{field}.status"),
        complexity=event.complexity,
        strategy=_known(_STRATEGY, event.strategy, f"{field}.strategy"),
        error=event.error,
        stream=event.stream,
    )


def summary_response(summary: Summary) -> analytics_pb2.SummaryResponse:
    return analytics_pb2.SummaryResponse(
        models=[_model_totals(m) for m in summary.models], total=_model_totals(summary.total)
    )


def _model_totals(totals: ModelTotals) -> analytics_pb2.ModelTotals:
    return analytics_pb2.ModelTotals(
        model=totals.model,
        provider=totals.provider,
        requests=totals.requests,
        errors=totals.errors,
        prompt_tokens=totals.prompt_tokens,
        completion_tokens=totals.completion_tokens,
        cost_usd=totals.cost_usd,
        baseline_cost_usd=totals.baseline_cost_usd,
        savings_usd=totals.savings_usd,
    )


def _time(stamp: Timestamp, field: str) -> datetime:
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidArgument(f"not a valid timestamp ({exc})", field=field) from exc


def _known(table: dict[int, V], value: int, field: str) -> V:
    try:
        return table[value]
    except KeyError:
        raise InvalidArgument(f"unknown value {value}", field=field) from None
