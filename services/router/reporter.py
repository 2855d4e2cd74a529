"""Usage reporting: batches of UsageEvents on one long-lived AnalyticsService.Ingest stream.

A batch is forgotten only when its IngestAck arrives. While analytics is unreachable,
batches go to the local spool (fsync'd) and are replayed, oldest first, once the stream is
back; event ids are unique, so a replay that repeats an already stored batch is harmless.
The memory queue is bounded: on overflow its content is spooled. `close` flushes what it
can within the grace period and spools the rest, so no usage event is ever dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from freeway.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from services.router import wire
from services.router.spool import Spool
from services.router.usage import UsageRecord

log = logging.getLogger("freeway.router.usage")

_RPC_ERRORS = (
    grpc.aio.AioRpcError,
    grpc.aio.UsageError,
    asyncio.InvalidStateError,
    ConnectionError,
)


@dataclass(frozen=True)
class ReporterPolicy:
    batch_size: int = 200
    flush_interval_s: float = 0.25
    queue_max: int = 10_000
    max_inflight: int = 8  # batches sent and not yet acknowledged
    connect_timeout_s: float = 2.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0


@dataclass
class _Batch:
    sequence: int
    events: list[analytics_pb2.UsageEvent]
    segment: Path | None = None  # set when the batch was replayed from the spool


@dataclass
class _Replay:
    """A spool segment being replayed: removed once all its batches are acknowledged."""

    path: Path
    unacked: set[int] = field(default_factory=set)
    sent_all: bool = False


class SessionEnded(Exception):
    """The Ingest stream closed while batches were still unacknowledged."""


class UsageReporter:
    """Implements the UsageSink the pipeline writes to."""

    def __init__(self, channel: grpc.aio.Channel, spool: Spool, policy: ReporterPolicy) -> None:
        self.channel = channel
        self.stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
        self.spool = spool
        self.policy = policy
        self._queue: deque[UsageRecord] = deque()
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._inflight: dict[int, _Batch] = {}
        self._replays: dict[Path, _Replay] = {}
        self._sequence = 0
        self._spooled = True  # the spool may hold events (from an earlier run): replay first
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.acknowledged = 0  # events acknowledged by analytics (stored or duplicate)

    def submit(self, record: UsageRecord) -> None:
        """Queue a record; never blocks, never drops (overflow goes to the spool)."""
        self._queue.append(record)
        if len(self._queue) >= self.policy.queue_max:
            log.warning("usage queue full (%d): spooling it", len(self._queue))
            self._spool_queue()
        elif len(self._queue) >= self.policy.batch_size:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-reporter")

    async def close(self, grace_s: float) -> None:
        """Send what can be sent within `grace_s`, then spool everything else."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except TimeoutError:
                log.warning("usage reporter: %.1fs grace ran out; spooling the rest", grace_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._spool_inflight()
        self._spool_queue()
        self.spool.close()

    @property
    def pending(self) -> int:
        """Events held in memory (queued or awaiting acknowledgement)."""
        return len(self._queue) + sum(len(b.events) for b in self._inflight.values())

    async def _run(self) -> None:
        backoff = self.policy.backoff_initial_s
        while not (self._closing and self._idle()):
            if await self._ready():
                acknowledged = self.acknowledged
                try:
                    await self._session()  # returns only once closing and drained
                    return
                except (*_RPC_ERRORS, SessionEnded) as exc:
                    log.warning("usage stream to analytics broke: %s", _describe(exc))
                    if _refused(exc):
                        self._set_aside(_describe(exc))
                finally:
                    self._spool_inflight()
                if self.acknowledged > acknowledged:  # the stream worked for a while
                    backoff = self.policy.backoff_initial_s
            if self._closing:
                return
            self._spool_queue()
            await self._pause(backoff)
            backoff = min(backoff * 2, self.policy.backoff_max_s)

    def _idle(self) -> bool:
        return not self._queue and not self._inflight and not self.spool.sealed()

    async def _ready(self) -> bool:
        try:
            await asyncio.wait_for(self.channel.channel_ready(), self.policy.connect_timeout_s)
        except TimeoutError:
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _session(self) -> None:
        """One Ingest stream: replay the spool, then send live batches until closing."""
        call = self.stub.Ingest()
        reader = asyncio.create_task(self._read_acks(call))
        writer = asyncio.create_task(self._write(call))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            call.cancel()

    async def _write(self, call: Any) -> None:
        while True:
            await self._replay(call)
            batch = await self._next_batch()
            if batch:
                await self._send(call, batch, None)
            elif self._closing and not self._queue:
                await self._drain()
                await call.done_writing()
                return

    async def _replay(self, call: Any) -> None:
        """Send every spooled segment not already being replayed."""
        if not self._spooled:
            return
        self._spooled = False
        for path in self.spool.seal():
            if path in self._replays:
                continue
            records = self.spool.read(path)
            replay = self._replays[path] = _Replay(path)
            log.info("replaying %d spooled usage events from %s", len(records), path.name)
            size = self.policy.batch_size
            for start in range(0, len(records), size):
                events = [
                    analytics_pb2.UsageEvent.FromString(r) for r in records[start : start + size]
                ]
                replay.unacked.add(await self._send(call, events, path))
            replay.sent_all = True
            self._forget_replayed(replay)

    async def _next_batch(self) -> list[analytics_pb2.UsageEvent]:
        if not self._queue and not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.flush_interval_s)
            self._wake.clear()
        take = min(len(self._queue), self.policy.batch_size)
        return [wire.usage_event(self._queue.popleft()) for _ in range(take)]

    async def _send(
        self, call: Any, events: list[analytics_pb2.UsageEvent], segment: Path | None
    ) -> int:
        while len(self._inflight) >= self.policy.max_inflight:
            self._acked.clear()
            await self._acked.wait()
        self._sequence += 1
        self._inflight[self._sequence] = _Batch(self._sequence, events, segment)
        await call.write(analytics_pb2.IngestRequest(sequence=self._sequence, events=events))
        return self._sequence

    async def _drain(self) -> None:
        while self._inflight:
            self._acked.clear()
            await self._acked.wait()

    async def _read_acks(self, call: Any) -> None:
        while True:
            ack = await call.read()
            if ack is grpc.aio.EOF:
                if self._inflight:
                    raise SessionEnded(
                        f"stream closed with {len(self._inflight)} batches unacknowledged"
                    )
                return
            self._acknowledge(ack)

    def _acknowledge(self, ack: analytics_pb2.IngestAck) -> None:
        batch = self._inflight.pop(ack.sequence, None)
        self._acked.set()
        if batch is None:
            log.warning("ack for unknown usage batch %d", ack.sequence)
            return
        self.acknowledged += len(batch.events)
        if batch.segment is not None:
            replay = self._replays.get(batch.segment)
            if replay is not None:
                replay.unacked.discard(batch.sequence)
                self._forget_replayed(replay)

    def _forget_replayed(self, replay: _Replay) -> None:
        if replay.sent_all and not replay.unacked:
            self.spool.remove(replay.path)
            del self._replays[replay.path]

    def _set_aside(self, reason: str) -> None:
        """Analytics refused a batch as invalid: resending it would fail forever, so every
        batch in flight is kept on disk out of replay, for an operator, never dropped."""
        for path in list(self._replays):
            kept = self.spool.set_aside(path)
            log.error("usage segment refused by analytics (%s): kept as %s", reason, kept)
        events = [e for b in self._inflight.values() if b.segment is None for e in b.events]
        if events:
            kept = self.spool.set_aside_records([e.SerializeToString() for e in events])
            log.error(
                "%d usage events refused by analytics (%s): kept as %s", len(events), reason, kept
            )
        self._inflight.clear()
        self._replays.clear()
        self._acked.set()

    def _spool_inflight(self) -> None:
        """Unacknowledged batches from memory go to the spool (spooled ones are still there)."""
        events = [e for b in self._inflight.values() if b.segment is None for e in b.events]
        self._inflight.clear()
        self._replays.clear()
        self._acked.set()
        self._spooled = True
        self._spool_events(events)

    def _spool_queue(self) -> None:
        records = list(self._queue)
        self._queue.clear()
        self._spool_events([wire.usage_event(r) for r in records])

    def _spool_events(self, events: list[analytics_pb2.UsageEvent]) -> None:
        if not events:
            return
        self._spooled = True
        try:
            self.spool.append([e.SerializeToString() for e in events])
        except OSError:
            log.exception("could not spool %d usage events", len(events))
            return
        log.info("spooled %d usage events to %s", len(events), self.spool.directory)


def _refused(exc: BaseException) -> bool:
    """Whether analytics rejected what we sent (as opposed to being unreachable)."""
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.INVALID_ARGUMENT


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
