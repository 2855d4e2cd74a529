"""Server-sent events as OpenAI streams them: `data: <json>` events, then `data: [DONE]`.

Every write is a syscall and a wake-up of the client, so the headers go out with the
first event, and events that carry no new text (the finish chunk, usage, [DONE]) ride
along with the next write or the end of the chunked body instead of costing their own.
"""

from __future__ import annotations

from aiohttp import web

DONE = b"data: [DONE]\n\n"
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


class EventStream(web.StreamResponse):
    # Hold the headers back until the first event, so both leave in one write (aiohttp's
    # own Response does the same).
    _send_headers_immediately = False

    def __init__(self, request_id: str) -> None:
        super().__init__(headers={**HEADERS, "x-request-id": request_id})
        self._pending: list[bytes] = []

    def add(self, payloads: list[bytes]) -> None:
        """Queue events for the next write."""
        self._pending.extend(map(event, payloads))

    async def flush(self) -> None:
        """Write the queued events, if any."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            await self.write(data)

    async def finish(self, last: bytes = DONE) -> None:
        """Write the queued events and `last` with the end of the body."""
        self._pending.append(last)
        data = b"".join(self._pending)
        self._pending.clear()
        await self.write_eof(data)


def event(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


async def open_stream(request: web.Request, request_id: str) -> EventStream:
    """Start an event stream (the headers leave with the first write)."""
    resp = EventStream(request_id)
    await resp.prepare(request)
    return resp
