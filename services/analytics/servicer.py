"""The AnalyticsService gRPC servicer: each RPC is translate (wire), answer (reports,
store, live), translate back. Nothing else happens here.

Domain errors (InvalidArgument naming the field, NotFound) propagate to the shared
interceptor, which turns them into the matching status; for a stream that ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from freeway.analytics.v1 import analytics_pb2 as pb
from freeway.analytics.v1 import analytics_pb2_grpc
from services.analytics import reports, wire
from services.analytics.feed import UsageFeed
from services.analytics.ingest import Recording, acknowledged
from services.analytics.live import LiveMetrics, LiveSnapshot
from services.analytics.prometheus import IngestMetrics, MeteredStore
from services.analytics.store import UsageStore
from services.analytics.usage import time_range

SERVICE_NAME = "freeway.analytics.v1.AnalyticsService"
_MESSAGE_CACHE = 16  # live snapshots whose message is kept (one per ticker at a time)


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(
        self,
        store: UsageStore,
        ingest_depth: int,
        live: LiveMetrics,
        now: Callable[[], datetime] | None = None,
        metrics: IngestMetrics | None = None,
        feed: UsageFeed | None = None,
    ) -> None:
        self.store = store
        self.ingest_depth = ingest_depth
        self.live = live
        self.feed = feed if feed is not None else UsageFeed()
        self.now = now or store.now
        recording = Recording(store, live, self.feed)
        self._ingest = recording if metrics is None else MeteredStore(recording, metrics)
        self._messages: dict[int, tuple[LiveSnapshot, pb.LiveMetrics]] = {}

    async def Ingest(
        self, request_iterator: AsyncIterator[pb.IngestRequest], context: Any
    ) -> AsyncIterator[pb.IngestAck]:
        """One ack per batch, in order, each sent only after its batch is durably stored."""
        batches = (wire.usage_batch(request) async for request in request_iterator)
        async for sequence, result in acknowledged(batches, self._ingest, self.ingest_depth):
            yield pb.IngestAck(
                sequence=sequence, stored=result.stored, duplicates=result.duplicates
            )

    async def Summary(self, request: pb.SummaryRequest, context: Any) -> pb.SummaryResponse:
        since, until = time_range(
            wire.optional_time(request, "since"), wire.optional_time(request, "until")
        )
        return wire.summary_response(await reports.summary(self.store, since, until))

    async def Timeseries(
        self, request: pb.TimeseriesRequest, context: Any
    ) -> pb.TimeseriesResponse:
        query = wire.timeseries_query(request, self.now())
        return wire.timeseries_response(await reports.timeseries(self.store, query))

    async def Savings(self, request: pb.SavingsRequest, context: Any) -> pb.SavingsResponse:
        query = wire.savings_query(request, self.now())
        result = await reports.savings_report(self.store, query)
        return wire.savings_response(result, query.group_by)

    async def Forecast(self, request: pb.ForecastRequest, context: Any) -> pb.ForecastResponse:
        query = wire.forecast_query(request, self.now())
        return wire.forecast_response(await reports.forecast_report(self.store, query))

    async def Export(
        self, request: pb.ExportRequest, context: Any
    ) -> AsyncIterator[pb.ExportChunk]:
        query = wire.export_query(request, self.now())
        async for data, rows in reports.export(self.store, query):
            yield pb.ExportChunk(data=data, rows=rows)

    async def WatchMetrics(
        self, request: pb.WatchMetricsRequest, context: Any
    ) -> AsyncIterator[pb.LiveMetrics]:
        async for snapshot in self.live.watch(wire.watch_query(request)):
            yield self._message(snapshot)

    async def WatchUsage(
        self, request: pb.WatchUsageRequest, context: Any
    ) -> AsyncIterator[pb.UsageNotice]:
        inbox = self.feed.join()
        try:
            # Headers go out once the watcher is registered: a client that has them sees
            # every event stored from then on.
            await context.send_initial_metadata(())
            async for notice in self.feed.notices(inbox):
                yield wire.usage_notice(notice.event, notice.dropped)
        finally:
            self.feed.leave(inbox)

    def _message(self, snapshot: LiveSnapshot) -> pb.LiveMetrics:
        """Each snapshot's message is built once, however many watch it."""
        cached = self._messages.get(id(snapshot))
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        if len(self._messages) >= _MESSAGE_CACHE:
            self._messages.pop(next(iter(self._messages)))
        message = wire.live_metrics(snapshot)
        self._messages[id(snapshot)] = (snapshot, message)
        return message

    async def RecordFeedback(
        self, request: pb.RecordFeedbackRequest, context: Any
    ) -> pb.RecordFeedbackResponse:
        recorded = await self.store.record_feedback(wire.feedback_of(request))
        return wire.feedback_response(recorded)
