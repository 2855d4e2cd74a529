"""The edge's calls to the router, multiplexed over RouterService.Exchange streams.

`RouterCalls` offers what the handlers used of the generated stub — `Complete` (awaited:
the response, or a `grpc.aio.AioRpcError`), `CompleteStream` (a call with `read()` that
returns chunks and then `grpc.aio.EOF`, and `cancel()`) and `Route` (unary, as before) —
so errors, trailers and cancellation read exactly as they did over unary calls. Behind
it, `lanes` long-lived Exchange streams (spread over the router replicas by the channel's
round-robin) carry the calls: each lane's writer sends every call (and cancellation)
waiting when it is free in one message, and the router does the same with its answers.
Why, and what it saves: the router's `exchange` module and the README, "The router
contract".

A lane whose stream ends or breaks fails its open calls as a unary call to a dying router
would (UNAVAILABLE); the next call opens a new lane. When the router drains, calls it
refused as not started go once more, on a fresh lane.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from typing import Any

import grpc

from freeway.router.v1 import router_pb2
from services.shared.errors import EXCHANGE_MARK, NOT_STARTED_TRAILER
from services.shared.logs import request_id

log = logging.getLogger("freeway.edge.exchange")

_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _error(
    code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, str | bytes], ...] = ()
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details, None
    )


def _status_error(status: router_pb2.CallStatus) -> grpc.aio.AioRpcError:
    trailers = tuple(
        (t.key, t.value if t.key.endswith("-bin") else t.value.decode("utf-8", "replace"))
        for t in status.trailers
    )
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    return _error(code, status.message, trailers)


def _not_started(status: router_pb2.CallStatus) -> bool:
    return any(t.key == NOT_STARTED_TRAILER for t in status.trailers)


class _Pending:
    """One call's answers as they arrive: results, then an end (None)."""

    __slots__ = ("call", "done", "lane", "resent", "results", "waiter")

    def __init__(self, call: router_pb2.ExchangeCall, lane: _Lane) -> None:
        self.call = call
        self.results: collections.deque[router_pb2.ExchangeResult | grpc.aio.AioRpcError] = (
            collections.deque()
        )
        self.waiter: asyncio.Future[None] | None = None
        self.done = False
        self.resent = False
        self.lane = lane

    def push(self, item: router_pb2.ExchangeResult | grpc.aio.AioRpcError) -> None:
        self.results.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> router_pb2.ExchangeResult | grpc.aio.AioRpcError:
        while not self.results:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.results.popleft()


class _Lane:
    """One Exchange stream: a writer of waiting calls, a reader of results."""

    def __init__(self, owner: RouterCalls, endpoint: _Endpoint, second: bool = False) -> None:
        self.owner = owner
        self.endpoint = endpoint
        self.pending: dict[int, _Pending] = {}
        self.calls: list[router_pb2.ExchangeCall] = []
        self.cancels: list[int] = []
        self.wake = asyncio.Event()
        self.open = True  # takes new calls
        # The router sends its initial metadata before it reads a call: until they arrive,
        # no call of this lane can have started.
        self.established = False
        # A second try for calls whose lane never got through: it waits for the channel to
        # connect (a router restarting, a port that was refused a moment ago), boundedly.
        self.second = second
        self.rpc: Any = endpoint.stub.Exchange(wait_for_ready=second or None)
        self.tasks = (
            asyncio.create_task(self._write()),
            asyncio.create_task(self._read()),
        )
        if second:
            asyncio.get_running_loop().call_later(owner.CONNECT_S, self._give_up)

    def _give_up(self) -> None:
        if not self.established and (self.open or self.pending):
            waited = self.owner.CONNECT_S
            self._end(_error(grpc.StatusCode.UNAVAILABLE, f"no router took the call in {waited}s"))

    def send(self, pending: _Pending) -> None:
        pending.lane = self
        self.pending[pending.call.id] = pending
        self.calls.append(pending.call)
        self.wake.set()

    def cancel(self, cid: int) -> None:
        if self.pending.pop(cid, None) is not None:
            self.cancels.append(cid)
            self.wake.set()

    async def _write(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                if not self.calls and not self.cancels:
                    continue
                message = router_pb2.ExchangeRequest(calls=self.calls, cancel=self.cancels)
                self.calls, self.cancels = [], []
                await self.rpc.write(message)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as exc:
            self._end(exc)  # the reader sees the same end; the first one to say it wins
        except asyncio.CancelledError:
            raise

    async def _read(self) -> None:
        error: BaseException | None = None
        try:
            # A failed call also "returns" initial metadata (empty): only the router's mark
            # says the stream reached it.
            metadata = await self.rpc.initial_metadata()
            self.established = any(key == EXCHANGE_MARK for key, _ in metadata or ())
            while True:
                reply = await self.rpc.read()
                if reply is grpc.aio.EOF:
                    break
                if reply.draining:
                    self.open = False
                    self.owner.retire(self, trouble=True)
                for result in reply.results:
                    self._deliver(result)
        except grpc.aio.AioRpcError as exc:
            error = exc
        except asyncio.CancelledError:
            raise
        self._end(error)

    def _deliver(self, result: router_pb2.ExchangeResult) -> None:
        pending = self.pending.get(result.id)
        if pending is None:
            return  # cancelled by us: its answer is nobody's
        if result.WhichOneof("kind") == "chunk":
            pending.push(result)
            return
        del self.pending[result.id]
        if result.HasField("status") and _not_started(result.status) and not pending.resent:
            pending.resent = True  # refused before it started (the router drains): once more
            self.owner.lane(avoid=self).send(pending)
            return
        pending.push(result)

    def _end(self, error: BaseException | None) -> None:
        if self.open or self.pending:
            self.open = False
            self.owner.retire(self, trouble=error is not None or bool(self.pending))
            if isinstance(error, grpc.aio.AioRpcError):
                failure = _error(error.code(), f"router stream: {error.details()}")
            else:
                failure = _error(grpc.StatusCode.UNAVAILABLE, "the router ended the call stream")
            pending, self.pending = self.pending, {}
            unheard = not self.established and failure.code() is grpc.StatusCode.UNAVAILABLE
            if unheard and not self.second and pending:
                # The stream never reached a router, so none of its calls started: they go
                # once more, on a lane that waits (boundedly) for a router to take them.
                retry = self.owner.second_lane(self)
                for item in pending.values():
                    retry.send(item)
                pending = {}
            for item in pending.values():
                item.push(failure)
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if not self.pending:
            self.rpc.cancel()


class _Endpoint:
    """One router address: its stub and lanes, and how long to leave it alone after its
    stream drained or broke."""

    def __init__(self, stub: Any, channel: Any = None) -> None:
        self.stub = stub
        self.channel = channel
        self.lanes: list[_Lane] = []
        self.avoid_until = 0.0
        self.turn = 0

    def usable(self, now: float) -> bool:
        """Not just drained or broken, and its channel not failing to connect."""
        if self.avoid_until > now:
            return False
        if self.channel is None:
            return True
        state = self.channel.get_state(try_to_connect=True)
        return bool(state is not grpc.ChannelConnectivity.TRANSIENT_FAILURE)


class RouterCalls:
    """The router as the edge calls it: Complete / CompleteStream over Exchange lanes,
    Route over the stub's unary call.

    `stubs` holds one stub per router address (replicas listed by address get their own
    lanes, so calls spread over them deterministically), or a single stub whose channel
    balances by itself (a DNS name of several replicas). Each address gets `lanes`
    streams; calls go round-robin over the addresses that did not just drain or fail."""

    AVOID_S = 1.0
    CONNECT_S = 2.0  # how long a second try waits for a router to take its calls

    def __init__(
        self,
        stub: Any,
        lanes: int = 2,
        stubs: list[Any] | None = None,
        channels: list[Any] | None = None,
    ) -> None:
        self.stub = stub
        self.size = max(1, lanes)
        listed = stubs or [stub]
        chans: list[Any] = list(channels) if channels else [None] * len(listed)
        self._endpoints = [_Endpoint(s, c) for s, c in zip(listed, chans, strict=True)]
        self._next = itertools.count()
        self._ids = itertools.count(1)

    def _choose(self, avoid: _Endpoint | None) -> _Endpoint:
        now = asyncio.get_running_loop().time()
        endpoints = self._endpoints
        start = next(self._next)
        for k in range(len(endpoints)):
            endpoint = endpoints[(start + k) % len(endpoints)]
            if endpoint is not avoid and endpoint.usable(now):
                return endpoint
        return endpoints[start % len(endpoints)]  # none looks well: try one anyway

    def lane(self, avoid: _Lane | None = None) -> _Lane:
        chosen = self._choose(avoid.endpoint if avoid is not None else None)
        if len(chosen.lanes) < self.size:
            lane = _Lane(self, chosen)
            chosen.lanes.append(lane)
            return lane
        chosen.turn += 1
        return chosen.lanes[chosen.turn % len(chosen.lanes)]

    def second_lane(self, failed: _Lane) -> _Lane:
        """A lane for calls whose lane never reached a router (see `_Lane.second`)."""
        chosen = self._choose(failed.endpoint if len(self._endpoints) > 1 else None)
        lane = _Lane(self, chosen, second=True)
        chosen.lanes.append(lane)
        return lane

    def retire(self, lane: _Lane, trouble: bool) -> None:
        """`lane` takes no more calls; with `trouble` (it drained or broke), its address is
        left alone for a moment."""
        endpoint = lane.endpoint
        with contextlib.suppress(ValueError):
            endpoint.lanes.remove(lane)
        if trouble:
            endpoint.avoid_until = asyncio.get_running_loop().time() + self.AVOID_S

    def __getattr__(self, name: str) -> Any:
        """Every other RouterService call (Route, ProviderHealth, …): the stub's, unary."""
        return getattr(self.stub, name)

    def _call(
        self, message: router_pb2.CompletionRequest, stream: bool, timeout: float | None
    ) -> _Pending:
        if not message.request_id:
            message.request_id = request_id.get()
        call = router_pb2.ExchangeCall(
            id=next(self._ids),
            request=message,
            stream=stream,
            timeout_ms=max(1, int(timeout * 1000)) if timeout else 0,
        )
        lane = self.lane()
        pending = _Pending(call, lane)
        lane.send(pending)
        return pending

    async def Complete(
        self,
        message: router_pb2.CompletionRequest,
        timeout: float | None = None,
        metadata: object = None,
    ) -> router_pb2.CompletionResponse:
        pending = self._call(message, False, timeout)
        try:
            async with asyncio.timeout(timeout):
                item = await pending.next()
        except TimeoutError:
            pending.lane.cancel(pending.call.id)
            raise _error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except asyncio.CancelledError:
            pending.lane.cancel(pending.call.id)
            raise
        if isinstance(item, grpc.aio.AioRpcError):
            raise item
        if item.HasField("response"):
            return item.response
        raise _status_error(item.status)

    def CompleteStream(
        self,
        message: router_pb2.CompletionRequest,
        timeout: float | None = None,
        metadata: object = None,
    ) -> StreamCall:
        return StreamCall(self._call(message, True, timeout), timeout)


class StreamCall:
    """A multiplexed CompleteStream call, read like grpc.aio's: `read()` until EOF."""

    def __init__(self, pending: _Pending, timeout: float | None) -> None:
        self._pending = pending
        loop = asyncio.get_running_loop()
        self._deadline = None if not timeout else loop.time() + timeout
        self._over = False

    async def read(self) -> Any:
        if self._over:
            return grpc.aio.EOF
        pending = self._pending
        try:
            async with asyncio.timeout_at(self._deadline):
                item = await pending.next()
        except TimeoutError:
            self.cancel()
            raise _error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        if isinstance(item, grpc.aio.AioRpcError):
            self._over = True
            raise item
        if item.HasField("chunk"):
            return item.chunk
        self._over = True
        if item.status.code == 0:
            return grpc.aio.EOF
        raise _status_error(item.status)

    def cancel(self) -> bool:
        if self._over:
            return False
        self._over = True
        self._pending.lane.cancel(self._pending.call.id)
        return True
