"""RouterService.Exchange: many Complete / CompleteStream calls over one long-lived stream.

Why: a unary gRPC call costs the edge and the router together about half a millisecond of
CPU (a new HTTP/2 stream, metadata, the interceptor, a task per side), more than the rest
of the router's work for a small completion. On one stream, every call and every answer
that is waiting when a message goes out shares that message: under load the per-call
cost falls to a few tens of microseconds, and an answer is never held back to wait for
company (a message leaves as soon as the writer is free).

Each call runs the very handler its unary call runs (`Complete` or `CompleteStream` of the
same servicer, given a `CallContext` that answers for the call's deadline, abort and
trailers), with the call's request id and the same error mapping
(`shared.server.status_of`), in its own task; its end is its own `CallStatus`, never the
stream's. On shutdown (`drain`) the stream says so, refuses new calls as not started
(UNAVAILABLE, `freeway-not-started`: the caller sends them elsewhere), answers the calls
it started, and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc

from freeway.router.v1 import router_pb2
from services.shared.errors import EXCHANGE_MARK, NOT_STARTED_TRAILER
from services.shared.logs import request_id
from services.shared.server import REQUEST_ID_HEADER, status_of

log = logging.getLogger("freeway.router.exchange")

METHOD = "/freeway.router.v1.RouterService/Exchange"
_OK = router_pb2.CallStatus(code=0)


class Drain:
    """Set when the router stops: every open Exchange stream winds down."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.sessions: set[Session] = set()

    def start(self) -> None:
        self.event.set()
        for session in list(self.sessions):
            session.wake()


Complete = Callable[[router_pb2.CompletionRequest, Any], Awaitable[router_pb2.CompletionResponse]]
Stream = Callable[[router_pb2.CompletionRequest, Any], AsyncIterator[router_pb2.CompletionChunk]]
Trailers = tuple[tuple[str, str | bytes], ...]


class _Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str, trailers: Trailers) -> None:
        super().__init__(details)
        self.code, self.details, self.trailers = code, details, trailers


class CallContext:
    """What a unary handler asks of its grpc.aio context, for one multiplexed call."""

    def __init__(self, deadline: float | None, rid: str) -> None:
        self.deadline = deadline
        self.trailers: Trailers = ()
        self._metadata = ((REQUEST_ID_HEADER, rid),)

    def time_remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        self.trailers = tuple(metadata)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Trailers = ()
    ) -> None:
        raise _Aborted(code, details, tuple(trailing_metadata) or self.trailers)

    def peer(self) -> str:
        return "exchange"


class ExchangeServicer:
    """Gives a RouterService servicer `Exchange`, over its own Complete / CompleteStream."""

    _drain: Drain | None = None

    @property
    def drain(self) -> Drain:
        if self._drain is None:
            self._drain = Drain()
        return self._drain

    async def Exchange(
        self, requests: AsyncIterator[router_pb2.ExchangeRequest], context: Any
    ) -> AsyncGenerator[router_pb2.ExchangeReply, None]:
        # Before reading any call: the caller knows from these that the stream got through
        # (until then none of its calls can have started, so it may send them elsewhere).
        await context.send_initial_metadata(((EXCHANGE_MARK, "1"),))
        servicer: Any = self
        session = Session(servicer.Complete, servicer.CompleteStream, self.drain)
        replies = session.run(requests)
        async with contextlib.aclosing(replies):
            async for reply in replies:
                yield reply


class Session:
    """One Exchange stream: its calls' tasks and the results waiting to be sent."""

    def __init__(self, complete: Complete, stream: Stream, drain: Drain) -> None:
        self.complete = complete
        self.stream = stream
        self.drain = drain
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.outbox: list[router_pb2.ExchangeResult] = []
        self._wake = asyncio.Event()
        self.reading = True
        self.said_draining = False

    def wake(self) -> None:
        self._wake.set()

    async def run(
        self, requests: AsyncIterator[router_pb2.ExchangeRequest]
    ) -> AsyncGenerator[router_pb2.ExchangeReply, None]:
        self.drain.sessions.add(self)
        reader = asyncio.create_task(self._read(requests))
        try:
            while True:
                if not self.outbox and not self._draining_news():
                    if not self.tasks and (not self.reading or self.drain.event.is_set()):
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                reply = router_pb2.ExchangeReply(results=self.outbox)
                self.outbox = []
                if self._draining_news():
                    reply.draining = True
                    self.said_draining = True
                yield reply
        finally:
            self.drain.sessions.discard(self)
            reader.cancel()
            for task in list(self.tasks.values()):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _draining_news(self) -> bool:
        return self.drain.event.is_set() and not self.said_draining

    async def _read(self, requests: AsyncIterator[router_pb2.ExchangeRequest]) -> None:
        try:
            async for message in requests:
                for cid in message.cancel:
                    task = self.tasks.pop(cid, None)
                    if task is not None:
                        task.cancel()
                for call in message.calls:
                    self._start(call)
        except grpc.aio.AioRpcError:
            pass  # the caller went away: the finally of `run` cancels what is left
        finally:
            self.reading = False
            self.wake()

    def _start(self, call: router_pb2.ExchangeCall) -> None:
        cid = call.id
        if self.drain.event.is_set():
            refused = ((NOT_STARTED_TRAILER, "1"),)
            self._finish(cid, grpc.StatusCode.UNAVAILABLE, "the router is shutting down", refused)
            return
        if cid in self.tasks:
            self._finish(cid, grpc.StatusCode.INVALID_ARGUMENT, f"call id {cid} is in use")
            return
        deadline = time.monotonic() + call.timeout_ms / 1000 if call.timeout_ms else None
        self.tasks[cid] = asyncio.create_task(self._run_call(cid, call, deadline))

    async def _run_call(
        self, cid: int, call: router_pb2.ExchangeCall, deadline: float | None
    ) -> None:
        rid = call.request.request_id or uuid.uuid4().hex
        request_id.set(rid)  # this task's own context
        method = f"{METHOD}:{'CompleteStream' if call.stream else 'Complete'}"
        context = CallContext(deadline, rid)
        try:
            timeout = None if deadline is None else deadline - time.monotonic()
            async with asyncio.timeout(timeout):
                if call.stream:
                    await self._stream(cid, call.request, context)
                else:
                    response = await self.complete(call.request, context)
                    self._send(router_pb2.ExchangeResult(id=cid, response=response))
        except asyncio.CancelledError:
            if self.tasks.get(cid) is not None:  # the stream is going, not this call
                raise
            return  # the caller cancelled it: it wants no answer
        except TimeoutError:
            self._finish(cid, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        except _Aborted as aborted:
            self._finish(cid, aborted.code, aborted.details, aborted.trailers)
        except Exception as exc:
            code, message, trailers = status_of(exc, method)
            self._finish(cid, code, message, trailers or context.trailers)
        finally:
            self.tasks.pop(cid, None)
            self.wake()

    async def _stream(
        self, cid: int, request: router_pb2.CompletionRequest, context: CallContext
    ) -> None:
        parts = self.stream(request, context)
        try:
            async for chunk in parts:
                self._send(router_pb2.ExchangeResult(id=cid, chunk=chunk))
        finally:
            closing = getattr(parts, "aclose", None)
            if closing is not None:
                await closing()
        self._send(router_pb2.ExchangeResult(id=cid, status=_OK))

    def _send(self, result: router_pb2.ExchangeResult) -> None:
        self.outbox.append(result)
        self._wake.set()

    def _finish(
        self, cid: int, code: grpc.StatusCode, message: str, trailers: Trailers = ()
    ) -> None:
        status = router_pb2.CallStatus(code=code.value[0], message=message)
        for key, value in trailers:
            raw = value if isinstance(value, bytes) else value.encode()
            status.trailers.add(key=key, value=raw)
        self._send(router_pb2.ExchangeResult(id=cid, status=status))
