"""One Ingest stream's pipeline: store a few batches at once, acknowledge them in order.

A stream that stored one batch at a time would spend most of its life waiting for
commits. Here a reader takes batches off the stream as they arrive, validates each one
and starts storing it, keeping at most `depth` batches in flight; acknowledgements
still leave in arrival order, each only after its own batch is committed.

On an invalid batch, the batches before it are stored and acknowledged, then the error
ends the stream; the invalid batch and everything after it are not stored. On a storage
failure the error ends the stream at that batch; later batches already in flight may
have been stored without an ack, which is harmless: the sender replays unacknowledged
batches, and replays are counted as duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Protocol

from services.analytics.usage import StoreResult, UsageBatch

Batch = tuple[int, UsageBatch]  # (sequence, events)


class BatchStore(Protocol):
    def check(self, batch: UsageBatch) -> None: ...
    async def insert(self, batch: UsageBatch) -> StoreResult: ...


class Recorder(Protocol):
    def record(self, batch: UsageBatch, indices: Iterable[int]) -> None: ...


class Recording:
    """A store whose newly stored events (never the duplicates) also go to each of
    `recorders` (the live metrics, the live feed), once committed."""

    def __init__(self, store: BatchStore, *recorders: Recorder) -> None:
        self.store = store
        self.recorders = recorders

    def check(self, batch: UsageBatch) -> None:
        self.store.check(batch)

    async def insert(self, batch: UsageBatch) -> StoreResult:
        result = await self.store.insert(batch)
        for recorder in self.recorders:
            recorder.record(batch, result.new)
        return result


_Item = tuple[int, asyncio.Task[StoreResult]] | BaseException | None


async def acknowledged(
    batches: AsyncIterator[Batch], store: BatchStore, depth: int
) -> AsyncGenerator[tuple[int, StoreResult], None]:
    """(sequence, result) for each batch of `batches`, in order, once it is stored."""
    slots = asyncio.Semaphore(depth)
    queue: asyncio.Queue[_Item] = asyncio.Queue()  # bounded by `slots`
    reader = asyncio.create_task(_read(batches, store, slots, queue))
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            sequence, storing = item
            result = await storing
            slots.release()
            yield sequence, result
    finally:
        reader.cancel()
        await _settle(reader, queue)


async def _read(
    batches: AsyncIterator[Batch],
    store: BatchStore,
    slots: asyncio.Semaphore,
    queue: asyncio.Queue[_Item],
) -> None:
    try:
        async for sequence, events in batches:
            store.check(events)
            await slots.acquire()
            # No await between starting the store and queueing it: a cancelled reader
            # never leaves a store running that nobody waits for.
            queue.put_nowait((sequence, asyncio.create_task(store.insert(events))))
    except BaseException as exc:  # the consumer raises it, after the acks before it
        queue.put_nowait(exc)
        raise
    else:
        queue.put_nowait(None)


async def _settle(reader: asyncio.Task[None], queue: asyncio.Queue[_Item]) -> None:
    """Wait for the reader and every store still running, so none outlives the stream."""
    await asyncio.gather(reader, return_exceptions=True)
    running = []
    while not queue.empty():
        item = queue.get_nowait()
        if isinstance(item, tuple):
            running.append(item[1])
    await asyncio.gather(*running, return_exceptions=True)
