"""The edge's cross-cutting concerns (STYLE.md §4, §5): the request id and the one place
where failures become HTTP answers, then authentication and roles. (Limits and budgets
apply to chat completions: see `admission`.)"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Awaitable, Callable

import grpc
from aiohttp import web
from aiohttp.typedefs import Middleware

from services.edge import dashboard, errors, protocol, roles
from services.edge.auth import Authenticator
from services.edge.keys import CALLER
from services.shared.errors import (
    CODE_TRAILER,
    FIELD_TRAILER,
    RETRY_AFTER_TRAILER,
    FreewayError,
)
from services.shared.logs import request_id

log = logging.getLogger("freeway.edge")

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID = 128
# /metrics has no API key (Prometheus scrapes the edge's port, where Envoy never routes it);
# FREEWAY_METRICS_TOKEN, when set, guards it.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/metrics"})
# Routes that authenticate by themselves: a browser's WebSocket cannot send a header, so
# /v1/ws also takes the key in its first message (see live.ws).
SELF_AUTHENTICATED = frozenset({"/v1/ws"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def incoming_request_id(value: str | None) -> str:
    """Envoy's (or the client's) request id when it is sane, else a fresh one."""
    if value and len(value) <= MAX_REQUEST_ID and value.isascii() and value.isprintable():
        return value
    return os.urandom(16).hex()


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Carry the request id (ContextVar → logs and gRPC metadata; echoed in the response)
    and turn every failure into OpenAI's error shape. Never a traceback to the client."""
    rid = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
    token = request_id.set(rid)
    try:
        resp = await handler(request)
    except FreewayError as exc:
        resp = _freeway_error(exc)
    except grpc.aio.AioRpcError as exc:
        resp = _rpc_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        resp = _http_error(exc, request)
    except web.RequestPayloadError as exc:
        resp = _unreadable_body(exc, request)
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _client_left(request):
            log.debug("%s %s: the client left", request.method, request.path)
            return web.Response(status=400)  # never sent: there is no one to send it to
        log.exception("%s %s crashed", request.method, request.path)
        body = errors.error_body(errors.INTERNAL, f"internal error (request id {rid})")
        resp = _json_error(errors.INTERNAL.status, body)
    finally:
        request_id.reset(token)
    if not resp.prepared:
        resp.headers[REQUEST_ID_HEADER] = rid
        if not request.content.is_eof():
            # Answered before its body was read (no key, no route): aiohttp reads the rest
            # after the answer and closes the connection if that fails or lasts, which a
            # proxy would not know from a keep-alive answer. See _unreadable_body.
            resp.force_close()
    return resp


def _client_left(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _json_error(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json")


def _unreadable_body(exc: web.RequestPayloadError, request: web.Request) -> web.Response:
    """A body aiohttp could not read (declared gzip but not gzip, a broken chunk, cut
    short): a 400 for this request, on a connection that then closes. Its parser state is
    lost, and a keep-alive answer would let a proxy send another client's request down a
    connection about to close (Envoy answers that client 503)."""
    problem = protocol.problem(exc.__cause__ or exc, "unreadable body")
    resp = _json_error(
        400, errors.error_body(errors.for_http_status(400), f"the request body: {problem}")
    )
    resp.force_close()
    request.content.feed_eof()  # nothing more to read: no lingering over a broken body
    return resp


def _freeway_error(exc: FreewayError) -> web.Response:
    error = errors.for_status(exc.status, getattr(exc, "code", None))
    resp = _json_error(error.status, errors.error_body(error, str(exc), exc.field or None))
    if exc.retry_after_s is not None:
        resp.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return resp


def _rpc_error(exc: grpc.aio.AioRpcError) -> web.Response:
    """A sibling service's error, as that service meant it: its status, its OpenAI code,
    the field it named, and when to retry (the trailers shared.errors defines)."""
    name = exc.code().name
    details = exc.details() or name.lower()
    trailers = errors.trailers(exc)
    error = errors.for_rpc(name, trailers.get(CODE_TRAILER))
    message = details if name in errors.BY_STATUS else f"upstream error: {details}"
    if error is errors.CREDENTIAL_REFUSED:
        message = f"a Freeway service refused the edge's service credential: {details}"
    if error.status >= 500:
        log.warning("upstream %s: %s", name, details)
    body = errors.error_body(error, message, trailers.get(FIELD_TRAILER))
    resp = _json_error(error.status, body)
    retry_after = trailers.get(RETRY_AFTER_TRAILER)
    if retry_after:
        resp.headers["Retry-After"] = retry_after
    return resp


def _http_error(exc: web.HTTPException, request: web.Request) -> web.Response:
    error = errors.for_http_status(exc.status)
    if exc.status in (404, 405):
        message = f"{exc.reason}: {request.method} {request.path}"
    else:
        message = exc.text or exc.reason
    resp = _json_error(exc.status, errors.error_body(error, message))
    if exc.status == 405 and "Allow" in exc.headers:
        resp.headers["Allow"] = exc.headers["Allow"]
    return resp


def auth_middleware(auth: Authenticator) -> Middleware:
    """Every route but the public ones (health, the OpenAPI document, the dashboard's
    files) needs a known key (or JWT) whose role allows it."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC_PATHS or path in SELF_AUTHENTICATED or dashboard.is_public(path):
            return await handler(request)
        caller = await auth.identify(request.headers.get("Authorization"))
        if request.match_info.http_exception is None:  # unknown routes answer 404 / 405
            roles.require(caller.role, request.method, request.path)
        request[CALLER] = caller
        return await handler(request)

    return authenticate
