"""Live metrics: per-second cells, one snapshot per tick for every watcher, slow watchers
skip ahead, and close() ends every watch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.analytics.live import LiveMetrics
from services.analytics.queries import Watch
from services.analytics.usage import UsageBatch, UsageEvent, UsageStatus

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def events(
    second: float, provider: str, count: int, status: UsageStatus = UsageStatus.OK
) -> UsageBatch:
    when = START + timedelta(seconds=second)
    return UsageBatch.of(
        UsageEvent(
            event_id=f"{provider}-{second}-{i}", time=when, provider=provider,
            prompt_tokens=10, completion_tokens=5, latency_ms=100.0 * (i + 1), ttft_ms=50.0,
            status=status,
        )
        for i in range(count)
    )  # fmt: skip


def test_a_snapshot_aggregates_the_window_per_provider() -> None:
    clock = Clock(START.timestamp() + 10.5)
    live = LiveMetrics(clock)
    for second in range(10):
        live.record(events(second, "groq", 4), range(4))
    live.record(events(5, "cerebras", 2, status=UsageStatus.ERROR), range(2))
    live.record(events(9, "groq", 3), [0])  # only the first one is new
    snap = live.snapshot(window_s=5)  # seconds 5..9
    assert snap.time == START + timedelta(seconds=10)
    groq, cerebras = snap.providers
    assert (groq.provider, groq.requests, groq.tokens) == ("groq", 21, 21 * 15)
    assert groq.requests_per_s == 21 / 5
    assert (cerebras.requests, cerebras.errors, cerebras.error_rate) == (2, 2, 1.0)
    assert (snap.total.requests, snap.total.errors) == (23, 2)
    assert snap.total.error_rate == 2 / 23
    assert 190 < groq.p50_latency_ms < 260
    assert 300 < groq.p95_latency_ms < 420
    assert 40 < snap.total.p50_ttft_ms < 63


def test_old_replays_and_future_times_are_not_live() -> None:
    clock = Clock(START.timestamp() + 600)
    live = LiveMetrics(clock)
    live.record(events(0, "groq", 3), range(3))  # ten minutes ago: a replay from a spool
    live.record(events(700, "groq", 3), range(3))  # a clock running ahead
    assert live.snapshot(300).total.requests == 0


async def test_one_snapshot_per_tick_is_shared_and_slow_watchers_skip_ahead() -> None:
    live = LiveMetrics()
    request = Watch(interval_ms=100, window_s=1)
    fast_seen: list[object] = []
    slow_seen: list[object] = []

    async def fast() -> None:
        async for snap in live.watch(request):
            fast_seen.append(snap)
            if len(fast_seen) == 5:
                return

    async def slow() -> None:
        async for snap in live.watch(request):
            slow_seen.append(snap)
            await asyncio.sleep(0.35)
            if len(slow_seen) == 2:
                return

    await asyncio.wait_for(asyncio.gather(fast(), slow()), 10)
    assert slow_seen[0] in fast_seen  # the very same object: computed once per tick
    assert len(fast_seen) == 5
    assert live.watchers == 0


async def test_close_ends_every_watch() -> None:
    live = LiveMetrics()
    seen = 0

    async def watch() -> None:
        nonlocal seen
        async for _ in live.watch(Watch(interval_ms=100, window_s=1)):
            seen += 1

    task = asyncio.create_task(watch())
    while not seen:
        await asyncio.sleep(0.05)
    await live.close()
    await asyncio.wait_for(task, 5)
    assert [s async for s in live.watch(Watch())] == []
