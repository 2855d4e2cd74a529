"""The Ingest pipeline: concurrent stores, in-order acks, and clean endings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import pytest

from services.analytics.ingest import Batch, Recording, acknowledged
from services.analytics.usage import StoreResult, UsageBatch, UsageEvent
from services.shared.errors import InvalidArgument, Unavailable


class GatedStore:
    """Stores a batch only when the test opens its gate; records what happened."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.stored: list[str] = []
        self.running = 0
        self.peak = 0
        self.fail = fail

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def check(self, batch: UsageBatch) -> None:
        for index, event_id in enumerate(batch["event_id"]):
            if not event_id:
                raise InvalidArgument("required", field=f"events[{index}].event_id")

    async def insert(self, batch: UsageBatch) -> StoreResult:
        name = batch["event_id"][0]
        self.started.append(name)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate(name).wait()
            if name in self.fail:
                raise Unavailable("database went away")
            self.stored.append(name)
            return StoreResult(len(batch), 0, tuple(range(len(batch))))
        finally:
            self.running -= 1


def batch(sequence: int, name: str) -> Batch:
    return sequence, UsageBatch.of([UsageEvent(event_id=name)])


async def feed(items: Sequence[Batch]) -> AsyncIterator[Batch]:
    for item in items:
        yield item


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds (bounded, so a regression fails, not hangs)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def collect(stream: AsyncIterator[tuple[int, StoreResult]], seen: list[int]) -> None:
    """Append each acknowledged sequence to `seen` (kept when the stream then fails)."""
    async for sequence, _ in stream:
        seen.append(sequence)


async def test_acks_leave_in_arrival_order_whatever_finishes_first() -> None:
    store = GatedStore()
    names = ["a", "b", "c"]
    for name in reversed(names):
        store.gate(name).set()
    acks = [
        seq
        async for seq, _ in acknowledged(feed([batch(i, n) for i, n in enumerate(names)]), store, 3)
    ]
    assert acks == [0, 1, 2]


async def test_later_batch_done_first_waits_for_the_earlier_ack() -> None:
    store = GatedStore()
    stream = acknowledged(feed([batch(1, "slow"), batch(2, "fast")]), store, 2)
    first = asyncio.ensure_future(anext(stream))
    store.gate("fast").set()
    await until(lambda: "fast" in store.stored)
    assert not first.done()
    store.gate("slow").set()
    assert (await first)[0] == 1
    assert (await anext(stream))[0] == 2


async def test_no_more_than_depth_batches_are_in_flight() -> None:
    store = GatedStore()
    names = [f"b{i}" for i in range(6)]
    stream = acknowledged(feed([batch(i, n) for i, n in enumerate(names)]), store, 2)
    first = asyncio.ensure_future(anext(stream))
    await until(lambda: len(store.started) == 2)
    for _ in range(10):
        await asyncio.sleep(0)
    assert store.started == ["b0", "b1"]
    for name in names:
        store.gate(name).set()
    assert [(await first)[0]] + [seq async for seq, _ in stream] == list(range(6))
    assert store.peak == 2


async def test_a_sender_waiting_for_each_ack_is_answered() -> None:
    store = GatedStore()
    acked = asyncio.Event()

    async def lockstep() -> AsyncIterator[Batch]:
        for sequence in range(3):
            acked.clear()
            store.gate(f"s{sequence}").set()
            yield batch(sequence, f"s{sequence}")
            await acked.wait()

    seen: list[int] = []
    async for sequence, _ in acknowledged(lockstep(), store, 4):
        seen.append(sequence)
        acked.set()
    assert seen == [0, 1, 2]


async def test_invalid_batch_acks_the_earlier_ones_then_ends_the_stream() -> None:
    store = GatedStore()
    for name in ("ok1", "ok2", "later"):
        store.gate(name).set()
    items = [batch(1, "ok1"), batch(2, "ok2"), batch(3, ""), batch(4, "later")]
    seen: list[int] = []
    with pytest.raises(InvalidArgument, match=r"^events\[0\]\.event_id: required$"):
        await collect(acknowledged(feed(items), store, 4), seen)
    assert seen == [1, 2]
    assert store.started == ["ok1", "ok2"]


async def test_storage_failure_ends_the_stream_and_settles_every_store() -> None:
    store = GatedStore(fail=frozenset({"b1"}))
    for name in ("b0", "b1", "b2"):
        store.gate(name).set()
    seen: list[int] = []
    with pytest.raises(Unavailable):
        await collect(acknowledged(feed([batch(i, f"b{i}") for i in range(3)]), store, 4), seen)
    assert seen == [0]
    assert store.running == 0


async def test_a_consumer_that_stops_early_leaves_nothing_running() -> None:
    store = GatedStore()
    store.gate("b0").set()
    stream = acknowledged(feed([batch(i, f"b{i}") for i in range(3)]), store, 4)
    assert (await anext(stream))[0] == 0
    await until(lambda: store.running == 2)
    closing = asyncio.ensure_future(stream.aclose())
    for _ in range(5):
        await asyncio.sleep(0)
    store.gate("b1").set()
    store.gate("b2").set()
    await closing
    assert store.running == 0
    assert store.stored == ["b0", "b1", "b2"]


class Seen:
    def __init__(self) -> None:
        self.recorded: list[tuple[list[str], list[int]]] = []

    def record(self, batch: UsageBatch, indices: Iterable[int]) -> None:
        self.recorded.append((batch["event_id"], list(indices)))


async def test_recording_feeds_only_what_was_stored() -> None:
    store, seen = GatedStore(), Seen()
    store.gate("b0").set()
    recording = Recording(store, seen)
    acks = [seq async for seq, _ in acknowledged(feed([batch(0, "b0")]), recording, 1)]
    assert acks == [0]
    assert seen.recorded == [(["b0"], [0])]


async def test_recording_sees_nothing_of_a_failed_store() -> None:
    store, seen = GatedStore(fail=frozenset({"b0"})), Seen()
    store.gate("b0").set()
    with pytest.raises(Unavailable):
        await collect(acknowledged(feed([batch(0, "b0")]), Recording(store, seen), 1), [])
    assert seen.recorded == []
