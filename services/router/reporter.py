"""Usage reporting: every usage event is written to the spool (services/router/spool.py)
before `submit` returns, and shipped from there in batches over one long-lived
AnalyticsService.Ingest stream. Bytes are given back to the spool only when their batch's
IngestAck arrives; when the stream breaks, everything unacknowledged is sent again, and a
router that starts replays what a dead one left. Event ids are unique and analytics stores
idempotently, so a replay never counts twice.

The request path pays for one proto serialisation and one `write()`; batching, sending,
acknowledging and the periodic fsync happen in this module's background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc

from freeway.analytics.v1 import analytics_pb2
from services.router import wire
from services.router.spool import Chunk, Spool, sync_and_close
from services.router.usage import UsageRecord
from services.shared.errors import Unavailable
from services.shared.redact import redact

log = logging.getLogger("freeway.router.usage")

INGEST = "/freeway.analytics.v1.AnalyticsService/Ingest"

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
    max_inflight: int = 8  # batches sent and not yet acknowledged
    connect_timeout_s: float = 2.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0
    fsync_interval_s: float = 1.0  # 0: never fsync (the page cache still survives kill -9)
    adopt_interval_s: float = 5.0  # how often to look for segments a dead router left


class SessionEnded(Exception):
    """The Ingest stream closed while batches were still unacknowledged."""


class UsageReporter:
    """Implements the UsageSink the pipeline writes to."""

    def __init__(self, channel: grpc.aio.Channel, spool: Spool, policy: ReporterPolicy) -> None:
        self.channel = channel
        # Requests go out as prebuilt bytes: the spool already holds every event serialised.
        self._ingest = channel.stream_stream(
            INGEST,
            request_serializer=_identity,
            response_deserializer=analytics_pb2.IngestAck.FromString,
        )
        self.spool = spool
        self.policy = policy
        self._wake = asyncio.Event()
        self._inflight: dict[int, Chunk] = {}
        self._sequence = 0
        self._unsent = 0  # events submitted since the sender last looked
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self.acknowledged = 0  # events acknowledged by analytics (stored or duplicate)
        self._waiting_since: float | None = None  # oldest wait for an ack (monotonic)

    def admit(self) -> None:
        """Refuse a new completion while the spool is at its bound (it could not be recorded)."""
        if self.spool.full:
            raise Unavailable(
                "usage spool full (analytics has been unreachable for long): not taking"
                " completions until it catches up"
            )

    def submit(self, record: UsageRecord) -> None:
        """Write the record to the spool; once this returns it survives the process dying.
        Never blocks; raises Unavailable when the record cannot be written, so the answer
        it belongs to is not given."""
        if record.error:  # stored for good: no provider key may be in it
            record = dataclasses.replace(record, error=redact(record.error))
        try:
            self.spool.append(wire.usage_event(record).SerializeToString())
        except OSError as exc:
            log.error("cannot write usage event %s to the spool: %s", record.event_id, exc)
            raise Unavailable("usage could not be recorded; the answer is withheld") from exc
        self._unsent += 1
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()
        if self._unsent >= self.policy.batch_size:
            self._wake.set()

    def start(self) -> None:
        self._adopt()
        self._task = asyncio.create_task(self._run(), name="usage-reporter")
        if self.policy.fsync_interval_s > 0:
            self._syncer = asyncio.create_task(self._sync_forever(), name="usage-fsync")

    async def close(self, grace_s: float) -> None:
        """Send what can be sent within `grace_s`; the rest stays in the spool for next time."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except TimeoutError:
                log.warning(
                    "usage reporter: %.1fs grace ran out; %d bytes stay spooled",
                    grace_s,
                    self.spool.unacknowledged_bytes(),
                )
            await _cancel(self._task)
        if self._syncer is not None:
            await _cancel(self._syncer)
        self.spool.close()

    @property
    def pending_bytes(self) -> int:
        """Bytes of usage events in the spool that analytics has not acknowledged."""
        return self.spool.unacknowledged_bytes()

    def lag_s(self) -> float:
        """Seconds analytics has kept usage waiting: since the last acknowledgement, or since
        the first event written after the spool was last drained (0: nothing waits)."""
        if self._waiting_since is None:
            return 0.0
        return max(time.monotonic() - self._waiting_since, 0.0)

    async def _run(self) -> None:
        backoff = self.policy.backoff_initial_s
        while True:
            self._adopt()
            if self._closing and self._idle():
                return
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
                    self._inflight.clear()
                    self.spool.rewind()
                if self.acknowledged > acknowledged:  # the stream worked for a while
                    backoff = self.policy.backoff_initial_s
            if self._closing:
                return
            await self._pause(backoff)
            backoff = min(backoff * 2, self.policy.backoff_max_s)

    def _adopt(self) -> None:
        """Take over the segments of a router sharing this directory that died."""
        adopted = self.spool.adopt()
        if adopted:
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()
            log.info("replaying usage events of %d spool segment(s) a router left", adopted)

    def _idle(self) -> bool:
        return not self._inflight and self.spool.unacknowledged_bytes() == 0

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
        """One Ingest stream: send everything unacknowledged, oldest first, until closing."""
        call = self._ingest()
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
        looked = time.monotonic()
        while True:
            if time.monotonic() - looked >= self.policy.adopt_interval_s:
                looked = time.monotonic()
                self._adopt()
            self._unsent = 0
            while len(self._inflight) < self.policy.max_inflight:
                chunk = self.spool.take(self.policy.batch_size)
                if chunk is None:
                    break
                self._sequence += 1
                self._inflight[self._sequence] = chunk
                await call.write(_ingest_request(self._sequence, chunk.payloads))
            if self._closing and not self.spool.unsent():
                while self._inflight:
                    await self._pause(self.policy.flush_interval_s)
                await call.done_writing()
                return
            await self._pause(self.policy.flush_interval_s)

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
        chunk = self._inflight.pop(ack.sequence, None)
        if chunk is None:
            log.warning("ack for unknown usage batch %d", ack.sequence)
            return
        self.spool.acknowledge(chunk)
        self.acknowledged += len(chunk.payloads)
        drained = not self._inflight and self.spool.unacknowledged_bytes() == 0
        self._waiting_since = None if drained else time.monotonic()
        if len(self._inflight) == self.policy.max_inflight - 1 or self._closing:
            self._wake.set()  # the writer may be waiting for room

    def _set_aside(self, reason: str) -> None:
        """Analytics refused a batch as invalid: acks come in order, so it is the oldest one
        in flight. Resending it would fail forever; it is kept on disk for an operator."""
        if not self._inflight:
            return
        chunk = self._inflight.pop(min(self._inflight))
        kept = self.spool.set_aside(chunk)
        log.error(
            "%d usage events refused by analytics (%s): kept as %s",
            len(chunk.payloads),
            reason,
            kept,
        )

    async def _sync_forever(self) -> None:
        """fsync what was written since the last round, off the event loop."""
        while True:
            await asyncio.sleep(self.policy.fsync_interval_s)
            fds = self.spool.dirty_fds()
            if fds:
                await asyncio.to_thread(_sync_all, fds)


def _ingest_request(sequence: int, events: list[bytes]) -> bytes:
    """IngestRequest{sequence, events} on the wire, from already serialised UsageEvents."""
    parts = [b"\x08", _varint(sequence)]  # field 1, varint
    for event in events:
        parts += (b"\x12", _varint(len(event)), event)  # field 2, length-delimited
    return b"".join(parts)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _identity(data: bytes) -> bytes:
    return data


def _sync_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            sync_and_close(fd)
        except OSError as exc:
            log.warning("fsync of the usage spool failed: %s", exc)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _refused(exc: BaseException) -> bool:
    """Whether analytics rejected what we sent (as opposed to being unreachable)."""
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.INVALID_ARGUMENT


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
