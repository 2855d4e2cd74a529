"""Server-sent events as OpenAI streams them: `data: <json>` events, then `data: [DONE]`.

The headers go out with the first events (one write, not two); every message from the
router is written as soon as it arrives (never held back to wait for more), and [DONE]
rides with the end of the chunked body.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

DONE = b"data: [DONE]\n\n"
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


class EventStream(web.StreamResponse):
    # Hold the headers back until the first write, so both leave in one (aiohttp's own
    # Response does the same).
    _send_headers_immediately = False

    def __init__(self, request_id: str, headers: Mapping[str, str]) -> None:
        super().__init__(headers={**HEADERS, **headers, "x-request-id": request_id})

    async def send(self, data: bytes) -> None:
        """Write events now (nothing when there are none)."""
        if data:
            await self.write(data)

    async def finish(self, last: bytes = DONE) -> None:
        """Write `last` with the end of the body."""
        await self.write_eof(last)


def event(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


async def open_stream(
    request: web.Request, request_id: str, headers: Mapping[str, str]
) -> EventStream:
    """Start an event stream (the headers leave with the first write)."""
    resp = EventStream(request_id, headers)
    await resp.prepare(request)
    return resp
