"""The edge's Prometheus metrics: HTTP requests by route and status, their duration, the
requests in flight and the WebSocket clients connected, served at `GET /metrics` on the
edge's own port (Envoy does not route /metrics: it stays inside).

The route label is aiohttp's route pattern (`/v1/models/{model_id}`), never the raw path,
and `unmatched` for a path no route has: a scanner cannot grow the series."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.edge.middlewares import Handler
from services.shared.errors import NotFound
from services.shared.metrics import DURATION_BUCKETS, HistogramChild, Registry, service_registry

# Envoy sets it on every request from outside (deploy/envoy/envoy.yaml): those never get
# /metrics, whatever spelling of the path got them here.
PUBLIC_HEADER = "x-freeway-public"
UNMATCHED = "unmatched"
CANCELLED = "499"  # the client went away before the answer (nginx's word for it)


class EdgeMetrics:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = r = registry or service_registry("edge")
        self.requests = r.counter(
            "freeway_edge_http_requests_total",
            "HTTP requests answered, by route pattern, method and status",
            ("route", "method", "status"),
        )
        self.duration = r.histogram(
            "freeway_edge_http_request_duration_seconds",
            "Time to answer an HTTP request (to the end of a stream)",
            ("route",),
            DURATION_BUCKETS,
        )
        self.in_flight = r.gauge(
            "freeway_edge_http_requests_in_flight", "HTTP requests being answered"
        ).labels()
        self.websocket_clients = r.gauge(
            "freeway_edge_websocket_clients", "WebSocket clients connected"
        ).labels()  # the hook for /v1/ws: inc() on connect, dec() on close
        self._durations: dict[str, HistogramChild] = {}

    def middleware(self) -> Middleware:
        """Outermost middleware: counts every answer, errors included."""
        requests, in_flight, durations = self.requests, self.in_flight, self._durations

        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else UNMATCHED
            in_flight.value += 1
            started = time.perf_counter()
            status = CANCELLED
            try:
                response = await handler(request)
                status = str(response.status)
                return response
            except web.HTTPException as exc:
                status = str(exc.status)
                raise
            except asyncio.CancelledError:
                raise
            except Exception:
                status = "500"
                raise
            finally:
                in_flight.value -= 1
                requests.labels(route, request.method, status).value += 1
                duration = durations.get(route)
                if duration is None:
                    duration = durations[route] = self.duration.labels(route)
                duration.observe(time.perf_counter() - started)

        return count


def internal_only(handler: Handler) -> Handler:
    """`handler` for requests that did not come through Envoy; 404 for those that did."""

    async def serve(request: web.Request) -> web.StreamResponse:
        if PUBLIC_HEADER in request.headers:
            raise NotFound(f"{request.path} is not served here")
        return await handler(request)

    return serve
