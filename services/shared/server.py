"""The one gRPC server shape every service uses (STYLE.md §3, §4, §13).

`start_server` builds a grpc.aio server with the shared interceptors, registers the
service's servicers plus the standard health service and server reflection, and binds.

With a service token, every call but a health check must carry
`authorization: Bearer <token>` or is refused UNAUTHENTICATED before any servicer runs.
Health stays open: Kubernetes' gRPC probes and container health checks cannot send
metadata, and it tells no more than "serving". Reflection needs the token like everything
else (it maps the whole API); grpcurl sends `-H` headers to reflection too:
`grpcurl -plaintext -H "authorization: Bearer $FREEWAY_SERVICE_TOKEN" 127.0.0.1:50051 list`.
`wait_for_signal` returns on SIGTERM/SIGINT; `RunningServer.stop` then flips health to
NOT_SERVING and stops gracefully, warning when the grace period runs out. `run` starts a
service's main on uvloop and turns start-up errors into one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.shared.config import ConfigError
from services.shared.errors import FreewayError
from services.shared.logs import request_id

log = logging.getLogger("freeway.grpc")

REQUEST_ID_HEADER = "x-request-id"
AUTH_HEADER = "authorization"
OPEN_PREFIX = "/grpc.health.v1.Health/"  # reachable without the service token

SERVER_OPTIONS: list[tuple[str, Any]] = [
    # A second server on the same port must fail loudly, not share the port silently.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
]


class CannotListen(OSError):
    """A service could not bind its address (taken, or not this machine's)."""


@dataclass(frozen=True)
class Registration:
    """A servicer and the generated function that adds it to a server."""

    add: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    name: str  # full service name, e.g. "freeway.catalog.v1.CatalogService"


def bearer(token: str) -> str:
    return f"Bearer {token}"


class ContextInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """The service credential (when a token is set), request id from metadata into a
    ContextVar, an access log line, and error mapping: FreewayError → its status with its
    message; anything else → INTERNAL with the request id only (the traceback goes to the
    log, never to the client)."""

    def __init__(self, token: str | None = None) -> None:
        self._credential = bearer(token).encode() if token else None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN_PREFIX):
            return handler
        if self._credential is not None and not self._authenticated(details):
            return _refusal(handler, method)
        if method.startswith("/grpc."):
            return handler
        rid = _request_id(details.invocation_metadata) or uuid.uuid4().hex
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method, rid),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method, rid),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary, method, rid),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream(handler.stream_stream, method, rid),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _authenticated(self, details: grpc.HandlerCallDetails) -> bool:
        assert self._credential is not None
        for key, value in details.invocation_metadata or ():
            if key == AUTH_HEADER:
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._credential)
        return False


def _refusal(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that refuses the call UNAUTHENTICATED."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        log.warning("%s refused: no valid service credential from %s", method, context.peer())
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            f"{method}: missing or wrong service credential"
            f" ({AUTH_HEADER}: Bearer $FREEWAY_SERVICE_TOKEN)",
        )

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(refuse, **serializers)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse, **serializers)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse, **serializers)
    return grpc.stream_stream_rpc_method_handler(refuse, **serializers)


def _request_id(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER:
            return value if isinstance(value, str) else value.decode()
    return ""


def _wrap_unary(
    behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]], method: str, rid: str
) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            return await behaviour(request, context)
        except Exception as exc:  # translated once, here
            await _abort(context, exc, method)
        finally:
            _access(method, context, started)
            request_id.reset(token)

    return call


def _wrap_stream(
    behaviour: Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]], method: str, rid: str
) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            async for item in behaviour(request, context):
                yield item
        except Exception as exc:
            await _abort(context, exc, method)
        finally:
            _access(method, context, started)
            # A cancelled stream is closed from another context; the var dies with the task.
            with contextlib.suppress(ValueError):
                request_id.reset(token)

    return call


_CODES = {code.name: code for code in grpc.StatusCode}


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> None:
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    code, message, trailers = status_of(exc, method)
    await context.abort(code, message, trailers)


def status_of(
    exc: Exception, method: str
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]:
    """How a call that raised `exc` ends: FreewayError → its status, message and trailers;
    anything else → INTERNAL with the request id only (the traceback goes to the log)."""
    if isinstance(exc, FreewayError):
        log.info("%s failed: %s", method, exc, extra={"code": exc.status})
        return _CODES[exc.status], str(exc), tuple(exc.trailers())
    log.error("%s crashed", method, exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id.get()})", ()


def _access(method: str, context: grpc.aio.ServicerContext, started: float) -> None:
    if log.isEnabledFor(logging.DEBUG):
        code = context.code() if hasattr(context, "code") else None
        log.debug(
            "%s",
            method,
            extra={"ms": round((time.perf_counter() - started) * 1000, 3), "code": str(code)},
        )


@dataclass
class RunningServer:
    name: str
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    services: tuple[str, ...]

    async def stop(self, grace: float = 5.0) -> None:
        """NOT_SERVING first (so balancers drain us), then a graceful stop bounded by `grace`."""
        await self.health.enter_graceful_shutdown()
        started = time.monotonic()
        await self.server.stop(grace)
        if time.monotonic() - started >= grace:
            log.warning(
                "%s: calls still running after %.1fs grace were cancelled", self.name, grace
            )


async def start_server(
    name: str,
    address: str,
    registrations: Sequence[Registration],
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    *,
    token: str | None = None,
) -> RunningServer:
    """Build, register (servicers + health + reflection) and start a server on `address`.
    With `token`, every call but health checks must carry it (service processes always
    have one: `service_settings` requires it; only in-process test servers go without)."""
    server = grpc.aio.server(
        interceptors=[ContextInterceptor(token), *extra_interceptors], options=SERVER_OPTIONS
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for reg in registrations:
        reg.add(reg.servicer, server)
    names = tuple(reg.name for reg in registrations)
    reflection.enable_server_reflection(
        (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise CannotListen(f"{name}: cannot listen on {address}: {exc}") from exc
    await server.start()
    for service in ("", *names):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s listening on %s", name, _with_port(address, port))
    return RunningServer(name, server, health_servicer, port, names)


def _with_port(address: str, port: int) -> str:
    host = address.rpartition(":")[0]
    return f"{host}:{port}"


async def wait_for_signal() -> None:
    """Return on the first SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a service's async main on uvloop. A start-up problem the operator must fix (bad
    setting, address taken) is one line on stderr and exit code 2, not a traceback."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(main())
    except (ConfigError, CannotListen) as exc:
        print(f"freeway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
