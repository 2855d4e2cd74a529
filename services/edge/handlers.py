"""The REST routes: OpenAI JSON in, one gRPC call, OpenAI JSON (or SSE) out.

Failures are not handled here: they propagate to the context middleware, which maps
them once. The exception is a stream that already started, whose status is sent: a
failure then becomes an SSE error event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2

from freeway.catalog.v1 import catalog_pb2
from freeway.router.v1 import router_pb2
from services.edge import catalog_json, convert, errors, queries, sse
from services.edge.admission import Ticket
from services.edge.keys import ADMISSION, CALLER, CATALOG_CACHE, CLIENTS, MODELS_CACHE, SETTINGS
from services.shared.channels import call_metadata
from services.shared.errors import CODE_TRAILER, FIELD_TRAILER, Unavailable
from services.shared.logs import request_id

log = logging.getLogger("freeway.edge")

JSON = "application/json"
SERVING = "SERVING"
_HEALTH_CHECK = health_pb2.HealthCheckRequest()
_STATUS_NAMES = health_pb2.HealthCheckResponse.ServingStatus


def json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


def completion_request(request: web.Request, raw: bytes) -> router_pb2.CompletionRequest:
    """The router's request: the body as sent, who sends it, its say on the cache, and
    what its key may use."""
    caller = request[CALLER]
    message = router_pb2.CompletionRequest(
        body=convert.request_text(raw),
        key_id=caller.key_id,
        team_id=caller.team_id,
        request_id=request_id.get(),
        cache=convert.cache_mode(request.headers.get(convert.CACHE_HEADER)),
    )
    return request.app[ADMISSION].scope(caller, raw, message)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """`POST /v1/chat/completions`: RouterService.Complete, or CompleteStream as SSE."""
    raw = await request.read()
    message = completion_request(request, raw)
    router = request.app[CLIENTS].router
    timeout = request.app[SETTINGS].completion_timeout_s
    # Limits and budgets (see admission): taken before the router call, settled after it.
    admission = request.app[ADMISSION]
    ticket = await admission.admit(request[CALLER])
    try:
        if convert.wants_stream(raw):
            call = router.CompleteStream(message, timeout=timeout, metadata=call_metadata())
            return await stream_completion(request, call, ticket)
        reply = await router.Complete(message, timeout=timeout, metadata=call_metadata())
        if ticket is not None:
            ticket.saw(reply.outcome)
    finally:
        if ticket is not None:  # shielded: a client that leaves cancels this handler, not this
            await asyncio.shield(asyncio.ensure_future(admission.settle(ticket)))
    resp = json_response(reply.body.encode())
    resp.headers.update(convert.outcome_headers(reply.outcome, stream=False))
    return resp


async def stream_completion(
    request: web.Request, call: Any, ticket: Ticket | None = None
) -> web.StreamResponse:
    """Relay the router's chunks as SSE, each message as soon as it arrives. A failure
    before the first chunk is a plain HTTP error; after it, an error event (and no
    [DONE]). The call is cancelled when the client leaves, so the router stops working
    for nobody."""
    try:
        chunk = await call.read()
        if chunk is grpc.aio.EOF:  # a stream always starts with a chunk; say so if not
            raise Unavailable("the router ended the stream before it started")
        headers = convert.outcome_headers(chunk.outcome, stream=True)
        resp = await sse.open_stream(request, request_id.get(), headers)
        try:
            while chunk is not grpc.aio.EOF:
                if ticket is not None and chunk.HasField("outcome"):
                    ticket.saw(chunk.outcome)
                await resp.send(convert.sse_events(chunk.events))
                chunk = await call.read()
            await resp.finish()
        except grpc.aio.AioRpcError as exc:
            await resp.finish(sse.event(stream_error(exc)))
        except ConnectionResetError:
            log.info("client left mid-stream")
        return resp
    finally:
        call.cancel()


def stream_error(exc: grpc.aio.AioRpcError) -> bytes:
    name = exc.code().name
    log.warning("stream failed after its start: %s %s", name, exc.details())
    trailers = errors.trailers(exc)
    return errors.error_body(
        errors.for_rpc(name, trailers.get(CODE_TRAILER)),
        exc.details() or name.lower(),
        trailers.get(FIELD_TRAILER),
    )


async def route(request: web.Request) -> web.Response:
    """`POST /v1/route`: the routing decision for a chat body, without calling a model."""
    message = completion_request(request, await request.read())
    timeout = request.app[SETTINGS].rpc_timeout_s
    router = request.app[CLIENTS].router
    decision = await router.Route(message, timeout=timeout, metadata=call_metadata())
    return json_response(convert.route_json(decision))


async def list_models(request: web.Request) -> web.Response:
    """`GET /v1/models[?free_only=false]`: the catalogue's free models (all with
    free_only=false), and "auto". The JSON is rebuilt only when the catalogue changed."""
    free_only = queries.boolean(request.query, "free_only", default=True)
    catalog = request.app[CLIENTS].catalog
    reply = await catalog.ListModels(
        catalog_pb2.ListModelsRequest(free_only=free_only),
        timeout=request.app[SETTINGS].rpc_timeout_s,
        metadata=call_metadata(),
    )
    cache = request.app[MODELS_CACHE]
    body = cache.get(free_only, reply.version)
    if body is None:
        body = convert.models_json(reply.models)
        cache.put(free_only, reply.version, body)
    return json_response(body)


async def get_model(request: web.Request) -> web.Response:
    """`GET /v1/models/{id}`: one model (ids contain slashes: `openrouter/x/y:free`)."""
    model_id = request.match_info["model_id"]
    if model_id == convert.AUTO:
        return json_response(convert.dumps(convert.AUTO_MODEL))
    catalog = request.app[CLIENTS].catalog
    model = await catalog.GetModel(
        catalog_pb2.GetModelRequest(id=model_id),
        timeout=request.app[SETTINGS].rpc_timeout_s,
        metadata=call_metadata(),
    )
    return json_response(convert.model_json(model))


async def list_catalog(request: web.Request) -> web.Response:
    """`GET /v1/catalog[?free=&provider=&capability=&min_context=&extra=]`: every model
    of the catalogue (not only the free ones) as full records, with the catalogue version.
    The JSON is rebuilt only when the catalogue (or the filter) changed."""
    query = queries.CatalogQuery.parse(request.query)
    reply = await request.app[CLIENTS].catalog.ListModels(
        query.request(), timeout=request.app[SETTINGS].rpc_timeout_s, metadata=call_metadata()
    )
    cache = request.app[CATALOG_CACHE]
    body = cache.get(query, reply.version)
    if body is None:
        # ListModels can only ask for the free models; "free=false" keeps the others here.
        models = [m for m in reply.models if query.free is not False or not m.is_free]
        body = catalog_json.catalog_json(reply.version, models, query.extra)
        cache.put(query, reply.version, body)
    return json_response(body)


async def list_changes(request: web.Request) -> web.Response:
    """`GET /v1/catalog/changes?since=N[&limit=M]`: the changes after version N still in
    the catalogue's history, oldest first (`more`: ask again from the last version seen;
    `history_truncated`: too far behind, re-read /v1/catalog instead)."""
    query = queries.ChangesQuery.parse(request.query)
    reply = await request.app[CLIENTS].catalog.ListChanges(
        query.request(), timeout=request.app[SETTINGS].rpc_timeout_s, metadata=call_metadata()
    )
    return json_response(catalog_json.changes_json(reply, query.extra))


async def list_providers(request: web.Request) -> web.Response:
    """`GET /v1/providers`: each provider's polling status, model, free and unpriced counts."""
    reply = await request.app[CLIENTS].catalog.ListProviders(
        catalog_pb2.ListProvidersRequest(),
        timeout=request.app[SETTINGS].rpc_timeout_s,
        metadata=call_metadata(),
    )
    return json_response(catalog_json.providers_json(reply))


async def list_alerts(request: web.Request) -> web.Response:
    """`GET /v1/alerts[?kind=went_paid,gone][&limit=N][&before=SEQ]`: the catalog's alerts,
    newest first (`more`: ask again with `before` = the last seq shown)."""
    query = queries.AlertsQuery.parse(request.query)
    reply = await request.app[CLIENTS].catalog.ListAlerts(
        query.request(), timeout=request.app[SETTINGS].rpc_timeout_s, metadata=call_metadata()
    )
    return json_response(catalog_json.alerts_json(reply))


async def healthz(request: web.Request) -> web.Response:
    """`GET /healthz` (no key): 200 while the router serves. The catalog being down
    degrades (the router keeps its last snapshot), so it is reported, not fatal."""
    clients = request.app[CLIENTS]
    timeout = request.app[SETTINGS].health_timeout_s
    router, catalog = await asyncio.gather(
        _health(clients.router_health, timeout), _health(clients.catalog_health, timeout)
    )
    if router != SERVING:
        status, word = 503, "unavailable"
    else:
        status, word = 200, "ok" if catalog == SERVING else "degraded"
    body = {"status": word, "router": router, "catalog": catalog}
    return json_response(convert.dumps(body), status)


async def _health(stub: Any, timeout: float) -> str:
    try:
        reply = await stub.Check(_HEALTH_CHECK, timeout=timeout, metadata=call_metadata())
    except grpc.aio.AioRpcError as exc:
        return str(exc.code().name)
    return str(_STATUS_NAMES.Name(reply.status))
