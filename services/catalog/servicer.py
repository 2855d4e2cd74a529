"""freeway.catalog.v1.CatalogService: translates requests to catalogue/replica calls and
their results back to messages. Errors are typed FreewayErrors; the shared interceptor
turns them into status codes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence

import grpc

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from freeway.common.v1 import common_pb2
from services.catalog import convert
from services.catalog.alerting import AlertCenter
from services.catalog.catalogue import Catalogue, ModelFilter
from services.catalog.replica import Replica
from services.shared.errors import InvalidArgument, NotFound
from services.shared.vocabulary import AlertKind

SERVICE_NAME = "freeway.catalog.v1.CatalogService"
DEFAULT_CHANGES_LIMIT = 500
MAX_CHANGES_LIMIT = 5000
DEFAULT_ALERTS_LIMIT = 100
MAX_ALERTS_LIMIT = 1000


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalogue: Catalogue, replica: Replica, alerts: AlertCenter) -> None:
        self.catalogue = catalogue
        self.replica = replica
        self.alerts = alerts
        # Built messages are shared between calls: a read copies them instead of converting
        # every entry again (see convert.ModelMessages).
        self.models = convert.ModelMessages()
        self.events = convert.EventMessages(models=self.models)

    async def ListModels(
        self, request: catalog_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListModelsResponse:
        wanted = ModelFilter(
            free_only=request.free_only,
            provider=request.provider,
            capabilities=_capabilities(request.capabilities),
            min_context=_min_context(request.min_context),
        )
        version = self.catalogue.version  # read before select: both in one synchronous step
        models = [self.models.model(e) for e in self.catalogue.select(wanted)]
        return catalog_pb2.ListModelsResponse(models=models, version=version)

    async def GetModel(
        self, request: catalog_pb2.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Model:
        if not request.id:
            raise InvalidArgument("is required", field="id")
        entry = self.catalogue.get(request.id)
        if entry is None:
            raise NotFound(f"no model {request.id!r} in the catalogue", field="id")
        return self.models.model(entry)

    async def ListProviders(
        self, request: catalog_pb2.ListProvidersRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListProvidersResponse:
        states = await self.replica.provider_states()
        return catalog_pb2.ListProvidersResponse(
            providers=[convert.provider_to_proto(s, self._unpriced(s.name)) for s in states]
        )

    def _unpriced(self, provider: str) -> int:
        return sum(1 for e in self.catalogue.entries_of(provider).values() if not e.record.priced)

    async def RefreshProvider(
        self, request: catalog_pb2.RefreshProviderRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.RefreshProviderResponse:
        if not request.name:
            raise InvalidArgument("is required", field="name")
        state = await self.replica.refresh(request.name)
        return catalog_pb2.RefreshProviderResponse(
            provider=convert.provider_to_proto(state, self._unpriced(state.name)),
            version=self.catalogue.version,
        )

    async def ListChanges(
        self, request: catalog_pb2.ListChangesRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListChangesResponse:
        page = self.catalogue.history_page(request.since_version, _limit(request.limit))
        return catalog_pb2.ListChangesResponse(
            events=[self.events.change(c) for c in page.changes],
            version=page.version,
            history_truncated=page.truncated,
            more=page.more,
        )

    async def WatchCatalog(
        self, request: catalog_pb2.WatchCatalogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[catalog_pb2.CatalogEvent]:
        subscription = self.catalogue.subscribe(request.since_version)
        try:
            async for event in subscription:
                yield self.events.message(event)
        finally:
            subscription.close()

    async def RaiseAlert(
        self, request: catalog_pb2.RaiseAlertRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.RaiseAlertResponse:
        if not request.HasField("alert"):
            raise InvalidArgument("is required", field="alert")
        try:
            alert = convert.alert_from_proto(request.alert, time.time())
        except ValueError as exc:
            name, _, message = str(exc).partition(": ")
            raise InvalidArgument(message, field=name) from None
        stored, new = await self.alerts.raise_alert(alert)
        return catalog_pb2.RaiseAlertResponse(
            alert=convert.alert_to_proto(stored), duplicate=not new
        )

    async def ListAlerts(
        self, request: catalog_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> catalog_pb2.ListAlertsResponse:
        limit = _alerts_limit(request.limit)
        found = await self.alerts.recent(limit + 1, _kinds(request.kinds), request.before_seq)
        return catalog_pb2.ListAlertsResponse(
            alerts=[convert.alert_to_proto(a) for a in found[:limit]],
            last_seq=await self.alerts.store.last_seq(),
            more=len(found) > limit,
        )

    async def WatchAlerts(
        self, request: catalog_pb2.WatchAlertsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[catalog_pb2.Alert]:
        async for alert in self.alerts.watch(request.since_seq, _kinds(request.kinds)):
            yield convert.alert_to_proto(alert)


def _kinds(values: Sequence[int]) -> list[AlertKind]:
    try:
        return [AlertKind(v) for v in values]
    except ValueError:
        raise InvalidArgument(f"unknown alert kind in {list(values)}", field="kinds") from None


def _alerts_limit(value: int) -> int:
    if value > MAX_ALERTS_LIMIT:
        raise InvalidArgument(f"must be ≤ {MAX_ALERTS_LIMIT}, got {value}", field="limit")
    return value or DEFAULT_ALERTS_LIMIT


def _capabilities(values: Iterable[int]) -> frozenset[str]:
    try:
        return convert.capabilities_from_proto(values)
    except KeyError as exc:
        raise InvalidArgument(f"unknown capability {exc.args[0]}", field="capabilities") from None


def _limit(value: int) -> int:
    if value > MAX_CHANGES_LIMIT:
        raise InvalidArgument(f"must be ≤ {MAX_CHANGES_LIMIT}, got {value}", field="limit")
    return value or DEFAULT_CHANGES_LIMIT


def _min_context(value: int) -> int:
    if value < 0:
        raise InvalidArgument(f"must be ≥ 0, got {value}", field="min_context")
    return value
