"""`GET /v1/ws`: the live topics over a WebSocket (JSON text frames; see the README,
"Live: WebSocket and dashboard").

Authentication is REST's: an `Authorization: Bearer <key>` header (programs; refused with
HTTP 401 before the upgrade), or, for browsers, which cannot set headers on a WebSocket,
a first message `{"type": "auth", "token": "<key>"}` within `FREEWAY_WS_AUTH_TIMEOUT_S`
(refused by closing with 4401). The key never travels in the URL.

Every frame the server sends goes through the client's bounded queue (see `hub`), written
by one writer task. A client that leaves `FREEWAY_WS_QUEUE` frames unread is closed with
4008 (from a task of its own: the fan-out never waits); on shutdown every client is
closed with 1001 (`shutdown`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from services.edge import roles
from services.edge.auth import Authenticator, Caller
from services.edge.keys import SETTINGS
from services.edge.live.hub import TOPICS, Hub, Subscriber
from services.shared.errors import PermissionDenied, Unauthenticated

log = logging.getLogger("freeway.edge.live")

PATH = "/v1/ws"
HUB = web.AppKey("live_hub", Hub)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("live_sockets")

CLOSE_GOING_AWAY = 1001  # the edge is shutting down
CLOSE_UNAUTHORIZED = 4401  # no key, an unknown key, or none in time
CLOSE_FORBIDDEN = 4403  # a key whose role may not read
CLOSE_TOO_SLOW = 4008  # the client left too many frames unread
MAX_MESSAGE = 64 * 1024
DIRECT_LIMIT = 256 * 1024  # bytes buffered in a transport beyond which frames queue
CLOSE_WAIT_S = 10.0  # for a close frame to get through before the connection is cut
COMMANDS = ("subscribe", "unsubscribe", "ping")


class BadMessage(Exception):
    """A client message the server cannot act on; `param` names the field."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_message"):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def error_frame(message: str, param: str | None, code: str) -> str:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return orjson.dumps({"type": "error", "error": error}).decode()


def _frame(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


async def websocket(request: web.Request) -> web.StreamResponse:
    app, settings = request.app, request.app[SETTINGS]
    header = request.headers.get("Authorization")
    caller = await _authorized(app[AUTHENTICATOR], header) if header is not None else None
    # No per-message deflate: it would compress each event once per client, the opposite
    # of one frame built once for all.
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat_s, max_msg_size=MAX_MESSAGE, compress=False
    )
    if not ws.can_prepare(request).ok:
        if caller is None:
            raise Unauthenticated(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
            )
        raise web.HTTPBadRequest(text="expected a WebSocket upgrade (Upgrade: websocket)")
    await ws.prepare(request)
    sockets = app[SOCKETS]
    sockets.add(ws)
    try:
        if caller is None:
            caller = await _first_message(ws, app[AUTHENTICATOR], settings.ws_auth_timeout_s)
        if caller is not None:
            await _session(ws, request, app[HUB], caller, settings.ws_queue)
    finally:
        sockets.discard(ws)
    return ws


async def _authorized(auth: Authenticator, authorization: str) -> Caller:
    caller = await auth.identify(authorization)
    roles.require(caller.role, "GET", PATH)
    return caller


async def _first_message(
    ws: web.WebSocketResponse, auth: Authenticator, timeout_s: float
) -> Caller | None:
    """The caller named by the first message, or None once the socket is closed 4401."""
    try:
        message = await asyncio.wait_for(ws.receive(), timeout_s)
    except TimeoutError:
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"no auth message in time")
        return None
    token = _token(message.data) if message.type is WSMsgType.TEXT else None
    if token is None:
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b'expected {"type":"auth","token":...}')
        return None
    try:
        return await _authorized(auth, f"Bearer {token}")
    except Unauthenticated:
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"incorrect API key")
    except PermissionDenied:
        await ws.close(code=CLOSE_FORBIDDEN, message=b"this key's role may not read")
    return None


def _token(text: str) -> str | None:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") != "auth":
        return None
    token = data.get("token")
    return token if isinstance(token, str) and token else None


async def _session(
    ws: web.WebSocketResponse, request: web.Request, hub: Hub, caller: Caller, capacity: int
) -> None:
    """Subscribe and unsubscribe as asked until the client leaves or is closed."""
    subscriber = hub.join(capacity, None if caller.sees_all_usage else caller.key_id)
    ready = {"type": "ready", "key_id": caller.key_id, "role": caller.role, "topics": TOPICS}
    subscriber.offer(_frame(ready))
    writer = asyncio.create_task(_write(ws, subscriber), name="ws-writer")
    closing: list[asyncio.Task[None]] = []

    def overflowed() -> None:
        # The writer may be stuck on a socket that does not drain: stop it, and close
        # from a task of its own (the hub that noticed never waits for it).
        writer.cancel()
        reason = f"too slow: more than {capacity} frames unread"
        closing.append(asyncio.create_task(close(ws, request, CLOSE_TOO_SLOW, reason)))

    subscriber.on_overflow = overflowed
    subscriber.direct = _direct_writer(ws, request)
    try:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await _command(hub, subscriber, message.data)
            else:
                subscriber.offer(error_frame("send JSON text frames", None, "binary_frame"))
    finally:
        await hub.leave(subscriber)
        if not writer.done():
            writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await asyncio.gather(*closing, return_exceptions=True)


def _direct_writer(ws: web.WebSocketResponse, request: web.Request) -> Callable[[bytes], bool]:
    """Write a whole encoded frame to the socket now, if it can take it without waiting.
    Safe beside aiohttp's own writer: uncompressed frames are written synchronously, so
    no frame is ever split by another."""
    transport = request.transport

    def write(frame: bytes) -> bool:
        if ws.closed or transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() > DIRECT_LIMIT:
            return False
        transport.write(frame)
        return True

    return write


async def _command(hub: Hub, subscriber: Subscriber, text: str) -> None:
    try:
        kind, data = _parsed(text)
        if kind == "ping":
            subscriber.offer(_frame({"type": "pong", "id": data.get("id")}))
            return
        topics = _topics(data)
        if kind == "subscribe":
            hub.subscribe(subscriber, topics)
        else:
            await hub.unsubscribe(subscriber, topics)
        subscriber.offer(_frame({"type": "subscribed", "topics": sorted(subscriber.topics)}))
    except BadMessage as bad:
        subscriber.offer(error_frame(bad.message, bad.param, bad.code))


def _parsed(text: str) -> tuple[str, dict[str, Any]]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}", None, "invalid_json") from None
    if not isinstance(data, dict):
        raise BadMessage("expected a JSON object", None, "invalid_json")
    kind = data.get("type")
    if kind == "auth":
        raise BadMessage("already authenticated", "type", "already_authenticated")
    if kind not in COMMANDS:
        raise BadMessage(f"expected one of {', '.join(COMMANDS)}, got {kind!r}", "type")
    return kind, data


def _topics(data: dict[str, Any]) -> list[str]:
    topics = data.get("topics")
    if not isinstance(topics, list) or not topics:
        raise BadMessage("expected a non-empty list of topic names", "topics")
    if len(topics) > len(TOPICS):
        raise BadMessage(f"at most {len(TOPICS)} topics", "topics")
    for i, topic in enumerate(topics):
        if topic not in TOPICS:
            raise BadMessage(
                f"unknown topic {topic!r}: expected one of {', '.join(TOPICS)}",
                f"topics[{i}]",
                "unknown_topic",
            )
    return list(topics)


async def _write(ws: web.WebSocketResponse, subscriber: Subscriber) -> None:
    """Send the subscriber's frames in order, until cancelled (on leaving or overflow)."""
    frames = subscriber.frames
    with contextlib.suppress(ConnectionError):  # the client left: the reader sees it too
        while not ws.closed:
            await subscriber.wake.wait()
            subscriber.wake.clear()
            while frames:
                await ws.send_str(frames.popleft())


async def close(ws: web.WebSocketResponse, request: web.Request, code: int, reason: str) -> None:
    """Close with `code`; a client that does not take the close frame in time is cut off."""
    try:
        async with asyncio.timeout(CLOSE_WAIT_S):
            await ws.close(code=code, message=reason.encode())
    except (TimeoutError, ConnectionError):
        if request.transport is not None:
            request.transport.abort()


async def shutdown(app: web.Application) -> None:
    """`on_shutdown`: close every client with 1001 (going away), then stop the feeds."""
    open_sockets: set[web.WebSocketResponse] = app[SOCKETS]
    sockets = list(open_sockets)
    reason = "the server is shutting down"
    await asyncio.gather(*(_going_away(ws, reason) for ws in sockets), return_exceptions=True)
    await app[HUB].close()


async def _going_away(ws: web.WebSocketResponse, reason: str) -> None:
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(CLOSE_WAIT_S):
            await ws.close(code=CLOSE_GOING_AWAY, message=reason.encode())
