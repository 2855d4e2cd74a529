"""HTTP requests aiohttp rejects before any handler runs (a bad request line, a header
with control bytes, an invalid Content-Length or chunk size, a line too long), answered in
OpenAI's error shape like every other failure.

aiohttp 3 has no hook for these (aio-libs/aiohttp#3287): its protocol answers them itself,
in text/plain, from `RequestHandler.handle_error`, and the app's middlewares never see
them. So the edge is served by a runner whose connections use a `RequestHandler` that
answers them as JSON. Such a connection is closed after the answer (its parser state is
lost), and the answer says so (`Connection: close`) so that a proxy never reuses it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest

from services.edge import errors

log = logging.getLogger("freeway.edge")

MAX_DETAIL = 200


def problem(exc: BaseException | None, fallback: str) -> str:
    """What aiohttp found wrong, in one line (its messages quote the bytes over several)."""
    text = exc.message if isinstance(exc, HttpProcessingError) else str(exc or "")
    first = text.strip().splitlines()[0].rstrip(":") if text.strip() else fallback
    return first[:MAX_DETAIL]


class OpenAIErrorsHandler(web.RequestHandler):
    """aiohttp's connection handler, answering its own errors in OpenAI's shape."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("%s %s failed in the HTTP layer", request.method, request.path, exc_info=exc)
            text = "internal error" if status == 500 else "the request timed out"
        else:
            text = f"malformed HTTP request: {problem(exc, message or 'bad request')}"
            log.info("refused a malformed HTTP request from %s: %s", request.remote, text)
        if request.writer.output_size > 0:  # as aiohttp: too late for another answer
            raise ConnectionError("the response had started; cannot send an error")
        resp = web.Response(
            status=status,
            body=errors.error_body(errors.for_http_status(status), text),
            content_type="application/json",
        )
        resp.force_close()
        return resp


class OpenAIErrorsServer(web.Server):
    """`web.Server` whose connections are `OpenAIErrorsHandler`s."""

    def __call__(self) -> web.RequestHandler:
        return OpenAIErrorsHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """`web.AppRunner` serving the app through `OpenAIErrorsServer` (same arguments)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        options: dict[str, Any] = server._kwargs
        return OpenAIErrorsServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **options,
        )
