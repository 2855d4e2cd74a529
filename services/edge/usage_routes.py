"""The usage REST routes: `/v1/usage/{summary,timeseries,savings,forecast,export}` and
`POST /v1/feedback`, each one AnalyticsService call (plus a catalogue look-up where a
baseline model or free quotas are named).

Who sees what: admin and viewer keys see all usage; a member key sees only its own (asking
for another key's is 403); only the admin may score another key's requests. Savings against
a baseline model named by id: its current catalogue price is looked up here and passed to analytics
as prices, so analytics stays a service of its own store (it never calls the catalog), and
one request can also name prices outright (`input_per_mtok`, `output_per_mtok`).

Failures propagate to the edge's error middleware, except analytics' INVALID_ARGUMENT,
which is re-raised naming the REST parameter (`filter.models[0]` → `model`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc
from aiohttp import web

from freeway.analytics.v1 import analytics_pb2 as pb
from freeway.analytics.v1 import analytics_pb2_grpc
from freeway.catalog.v1 import catalog_pb2
from services.edge import usage_json
from services.edge.keys import CALLER, CLIENTS, SETTINGS
from services.edge.queries import integer
from services.shared.channels import call_metadata, channel
from services.shared.errors import InvalidArgument, PermissionDenied
from services.shared.settings import SuiteSettings

if TYPE_CHECKING:
    from freeway.analytics.v1.analytics_pb2_grpc import AnalyticsServiceAsyncStub

log = logging.getLogger("freeway.edge")
T = TypeVar("T")
JSON = "application/json"
MAX_QUOTAS = 1000  # analytics' own limit
EXPORT_TYPES = {
    pb.EXPORT_FORMAT_CSV: ("text/csv", "csv"),
    pb.EXPORT_FORMAT_JSONL: ("application/x-ndjson", "jsonl"),
}

ANALYTICS = web.AppKey("analytics", object)


def analytics_channel(suite: SuiteSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The edge's channel to analytics, open for the app's lifetime (cleanup_ctx)."""

    async def open_channel(app: web.Application) -> AsyncIterator[None]:
        ch = channel(suite.analytics_addr, suite.service_token)
        app[ANALYTICS] = analytics_pb2_grpc.AnalyticsServiceStub(ch)
        yield
        await ch.close()

    return open_channel


def _stub(request: web.Request) -> AnalyticsServiceAsyncStub:
    return cast("AnalyticsServiceAsyncStub", request.app[ANALYTICS])


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


async def _call(request: web.Request, call: Awaitable[T]) -> T:
    """An analytics call whose INVALID_ARGUMENT names the REST parameter."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise _translated(exc) from None


def _translated(exc: grpc.aio.AioRpcError) -> Exception:
    details: str = exc.details() or ""
    field, sep, message = details.partition(": ")
    if exc.code() is grpc.StatusCode.INVALID_ARGUMENT and sep and " " not in field:
        return InvalidArgument(message, field=usage_json.param_of(field))
    failure: Exception = exc
    return failure


def _timeout(request: web.Request) -> float:
    return request.app[SETTINGS].rpc_timeout_s


def scoped(request: web.Request, wanted: pb.UsageFilter) -> pb.UsageFilter:
    """`wanted`, limited to the caller's own key unless its role sees all usage."""
    caller = request[CALLER]
    if caller.sees_all_usage:
        return wanted
    others = [k for k in wanted.key_ids if k != caller.key_id]
    if others:
        raise PermissionDenied(
            f"a {caller.role} key reads only its own usage, not key {others[0]!r}",
            code="insufficient_permissions",
        )
    wanted.ClearField("key_ids")
    wanted.key_ids.append(caller.key_id)
    return wanted


async def summary(request: web.Request) -> web.Response:
    """`GET /v1/usage/summary?since=&until=`: totals per served model (admin and viewer
    keys only: it is every key's usage)."""
    _sees_all(request)
    message = pb.SummaryRequest(
        since=usage_json.instant_param(request.query, "since"),
        until=usage_json.instant_param(request.query, "until"),
    )
    reply = await _call(
        request,
        _stub(request).Summary(message, timeout=_timeout(request), metadata=call_metadata()),
    )
    return _json(usage_json.summary_json(reply))


def _sees_all(request: web.Request) -> None:
    caller = request[CALLER]
    if not caller.sees_all_usage:
        raise PermissionDenied(
            f"a {caller.role} key reads only its own usage: this needs an admin or viewer key",
            code="insufficient_permissions",
        )


async def timeseries(request: web.Request) -> web.Response:
    """`GET /v1/usage/timeseries?granularity=minute|hour|day&group_by=&since=&until=`
    with filters `model provider key team strategy status`, `percentiles`, `max_series`."""
    message = usage_json.timeseries_request(request.query)
    message.filter.CopyFrom(scoped(request, message.filter))
    reply = await _call(
        request,
        _stub(request).Timeseries(message, timeout=_timeout(request), metadata=call_metadata()),
    )
    return _json(usage_json.timeseries_json(reply))


async def savings(request: web.Request) -> web.Response:
    """`GET /v1/usage/savings?baseline=<model id>` (its catalogue price) or
    `?input_per_mtok=&output_per_mtok=[&request_price=]` (configured prices), else the
    baseline recorded with each request; `group_by`, filters, `requests=N` (the newest N
    with their own saving)."""
    query = request.query
    prices, described = await _baseline(request)
    message = pb.SavingsRequest(
        since=usage_json.instant_param(query, "since"),
        until=usage_json.instant_param(query, "until"),
        filter=scoped(request, usage_json.usage_filter(query)),
        group_by=usage_json.choices(query, "group_by", usage_json.DIMENSIONS),  # type: ignore[arg-type]
        baseline=prices,
        request_limit=integer(query, "requests", 0, high=2**32 - 1),
    )
    reply = await _call(
        request,
        _stub(request).Savings(message, timeout=_timeout(request), metadata=call_metadata()),
    )
    return _json(usage_json.savings_json(reply, described, list(message.group_by)))


async def _baseline(request: web.Request) -> tuple[pb.BaselinePrices | None, dict[str, Any]]:
    """The prices to compare with, and how the answer describes them."""
    query = request.query
    model_id = query.get("baseline", "").strip()
    given = {n: usage_json.number(query, n) for n in ("input_per_mtok", "output_per_mtok")}
    per_request = usage_json.number(query, "request_price") or 0.0
    if model_id and any(v is not None for v in given.values()):
        raise InvalidArgument("give a baseline model or prices, not both", field="baseline")
    if not model_id and all(v is None for v in given.values()):
        return None, {"source": "recorded"}
    if not model_id:
        missing = [n for n, v in given.items() if v is None]
        if missing:
            raise InvalidArgument("required with the other price", field=missing[0])
        prices = pb.BaselinePrices(
            input_per_mtok=given["input_per_mtok"] or 0.0,
            output_per_mtok=given["output_per_mtok"] or 0.0,
            per_request=per_request,
        )
        return prices, {"source": "prices", **_prices_json(prices)}
    model = await _catalog_model(request, model_id)
    if not (model.HasField("input_price_per_mtok") and model.HasField("output_price_per_mtok")):
        raise InvalidArgument(
            f"{model_id} has no known price in the catalogue: name a priced model, or give"
            " input_per_mtok and output_per_mtok",
            field="baseline",
        )
    prices = pb.BaselinePrices(
        model=model.id,
        input_per_mtok=model.input_price_per_mtok,
        output_per_mtok=model.output_price_per_mtok,
        per_request=model.request_price if model.HasField("request_price") else 0.0,
    )
    described = {"source": "catalog", "model": model.id, "price_source": model.price_source}
    return prices, described | _prices_json(prices)


def _prices_json(prices: pb.BaselinePrices) -> dict[str, float]:
    return {
        "input_per_mtok": prices.input_per_mtok,
        "output_per_mtok": prices.output_per_mtok,
        "request_price": prices.per_request,
    }


async def _catalog_model(request: web.Request, model_id: str) -> Any:
    try:
        return await request.app[CLIENTS].catalog.GetModel(
            catalog_pb2.GetModelRequest(id=model_id),
            timeout=_timeout(request),
            metadata=call_metadata(),
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() is grpc.StatusCode.NOT_FOUND:
            raise InvalidArgument(
                f"no model {model_id!r} in the catalogue", field="baseline"
            ) from None
        raise


async def forecast(request: web.Request) -> web.Response:
    """`GET /v1/usage/forecast?as_of=&lookback_days=` and filters: month-end cost, saving,
    requests and tokens, and the free quotas (from the catalogue) projected for today."""
    query = request.query
    quotas, quotas_from = await _quotas(request)
    message = pb.ForecastRequest(
        as_of=usage_json.instant_param(query, "as_of"),
        lookback_days=integer(query, "lookback_days", 0, high=2**32 - 1),
        filter=scoped(request, usage_json.usage_filter(query)),
        quotas=quotas,
    )
    reply = await _call(
        request,
        _stub(request).Forecast(message, timeout=_timeout(request), metadata=call_metadata()),
    )
    return _json(usage_json.forecast_json(reply, quotas_from))


async def _quotas(request: web.Request) -> tuple[list[pb.QuotaLimit], str]:
    """The daily free-tier limits of the catalogue's free models; a catalogue that is down
    degrades the forecast (no quotas, and it says so) instead of failing it."""
    try:
        reply = await request.app[CLIENTS].catalog.ListModels(
            catalog_pb2.ListModelsRequest(free_only=True),
            timeout=_timeout(request),
            metadata=call_metadata(),
        )
    except grpc.aio.AioRpcError as exc:
        return [], f"unavailable: {exc.code().name}"
    limits = [
        pb.QuotaLimit(
            model=m.id,
            requests_per_day=m.free_tier.requests_per_day,
            tokens_per_day=m.free_tier.tokens_per_day,
        )
        for m in reply.models
        if m.free_tier.requests_per_day or m.free_tier.tokens_per_day
    ]
    return limits[:MAX_QUOTAS], "catalog"


async def export(request: web.Request) -> web.StreamResponse:
    """`GET /v1/usage/export?format=csv|jsonl&since=&until=&include=feedback,features`
    and filters, `limit`: usage rows as a download, streamed as analytics reads them."""
    message = usage_json.export_request(request.query)
    message.filter.CopyFrom(scoped(request, message.filter))
    call = _stub(request).Export(
        message, timeout=request.app[SETTINGS].completion_timeout_s, metadata=call_metadata()
    )
    try:
        # The first chunk before the headers: a bad request is still a plain 400.
        first = await _call(request, call.read())
        content_type, suffix = EXPORT_TYPES[message.format or pb.EXPORT_FORMAT_JSONL]
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"{content_type}; charset=utf-8",
                "Content-Disposition": f'attachment; filename="freeway-usage.{suffix}"',
            }
        )
        await resp.prepare(request)
        chunk = first
        try:
            while chunk is not grpc.aio.EOF:
                await resp.write(chunk.data)
                chunk = await call.read()
        except grpc.aio.AioRpcError as exc:
            # The status is sent: cut the connection, so that the client sees a broken
            # download rather than a short one that looks whole.
            log.warning("usage export broke off: %s %s", exc.code().name, exc.details())
            if request.transport is not None:
                request.transport.close()
            return resp
        await resp.write_eof()
        return resp
    finally:
        call.cancel()


async def feedback(request: web.Request) -> web.Response:
    """`POST /v1/feedback` {"request_id", "score": 0..1 | "thumbs": "up"|"down",
    "source": "application"|"judge"}: stored with that request's usage. A key other
    than the admin's may score only its own requests."""
    caller = request[CALLER]
    body = usage_json.loads(await request.read())
    message = usage_json.feedback_request(body, "" if caller.admin else caller.key_id)
    reply = await _call(
        request,
        _stub(request).RecordFeedback(message, timeout=_timeout(request), metadata=call_metadata()),
    )
    return _json(usage_json.feedback_json(reply))
