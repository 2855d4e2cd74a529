"""Live usage: per-second aggregates of the last few minutes, computed once per tick and
fanned out to every watcher.

Ingest feeds each newly stored event (never a duplicate) into a cell per (second of the
event's time, provider). A ticker per distinct (interval, window) turns the last `window`
complete seconds into one snapshot and hands that same object to every watcher of that
pair, so a thousand watchers cost one computation per tick. Each watcher holds at most one
snapshot: one that reads slowly skips to the newest instead of queueing old ones, and
never slows the others.

This is one analytics process's view: with several analytics replicas, each shows the
usage that was ingested through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.analytics import histogram
from services.analytics.queries import MAX_WINDOW_S, Watch
from services.analytics.usage import UsageBatch, UsageStatus

Clock = Callable[[], float]


@dataclass(slots=True)
class _Cell:
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    latency: list[int] = field(default_factory=histogram.empty)
    ttft: list[int] = field(default_factory=histogram.empty)

    def add(self, other: _Cell) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.tokens += other.tokens
        histogram.add(self.latency, other.latency)
        histogram.add(self.ttft, other.ttft)


@dataclass(frozen=True, slots=True)
class LiveAggregate:
    provider: str  # "" for the total
    requests: int
    errors: int
    tokens: int
    requests_per_s: float
    tokens_per_s: float
    error_rate: float
    p50_latency_ms: float
    p95_latency_ms: float
    p50_ttft_ms: float

    @classmethod
    def of(cls, provider: str, cell: _Cell, window_s: int) -> LiveAggregate:
        return cls(
            provider,
            cell.requests,
            cell.errors,
            cell.tokens,
            cell.requests / window_s,
            cell.tokens / window_s,
            cell.errors / cell.requests if cell.requests else 0.0,
            histogram.percentile(cell.latency, 50),
            histogram.percentile(cell.latency, 95),
            histogram.percentile(cell.ttft, 50),
        )


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    time: datetime  # the end of the window
    window_s: int
    total: LiveAggregate
    providers: tuple[LiveAggregate, ...]  # busiest first


class LiveMetrics:
    """The per-second cells and the tickers that read them."""

    def __init__(self, clock: Clock = time.time, horizon_s: int = MAX_WINDOW_S) -> None:
        self.clock = clock
        self.horizon_s = horizon_s
        self._seconds: dict[int, dict[str, _Cell]] = {}
        self._tickers: dict[Watch, _Ticker] = {}
        self._closed = False

    def record(self, batch: UsageBatch, indices: Iterable[int]) -> None:
        """Count the events at `indices` of `batch` (those just stored)."""
        now = int(self.clock())
        oldest = now - self.horizon_s
        times, providers, statuses = batch["time"], batch["provider"], batch["status"]
        prompt, completion = batch["prompt_tokens"], batch["completion_tokens"]
        latency, ttft = batch.column("latency_bin"), batch.column("ttft_bin")
        error = UsageStatus.ERROR
        seconds = self._seconds
        for i in indices:
            second = int(times[i].timestamp())
            if second < oldest or second > now:
                continue  # a replay of old usage, or a clock ahead of ours
            cells = seconds.get(second)
            if cells is None:
                cells = seconds[second] = {}
            cell = cells.get(providers[i])
            if cell is None:
                cell = cells[providers[i]] = _Cell()
            cell.requests += 1
            cell.errors += statuses[i] == error
            cell.tokens += prompt[i] + completion[i]
            cell.latency[latency[i]] += 1
            if ttft[i] is not None:
                cell.ttft[ttft[i]] += 1

    def snapshot(self, window_s: int) -> LiveSnapshot:
        """The `window_s` complete seconds before the current one."""
        end = int(self.clock())
        self._forget(end - self.horizon_s)
        per_provider: dict[str, _Cell] = {}
        for second in range(end - window_s, end):
            for provider, cell in self._seconds.get(second, {}).items():
                per_provider.setdefault(provider, _Cell()).add(cell)
        total = _Cell()
        for cell in per_provider.values():
            total.add(cell)
        providers = sorted(
            (LiveAggregate.of(p, c, window_s) for p, c in per_provider.items()),
            key=lambda a: (-a.requests, a.provider),
        )
        return LiveSnapshot(
            datetime.fromtimestamp(end, UTC),
            window_s,
            LiveAggregate.of("", total, window_s),
            tuple(providers),
        )

    def _forget(self, oldest: int) -> None:
        for second in [s for s in self._seconds if s < oldest]:
            del self._seconds[second]

    async def watch(self, request: Watch) -> AsyncIterator[LiveSnapshot]:
        """A snapshot every `request.interval_ms` until the watcher leaves or `close()`."""
        if self._closed:
            return
        ticker = self._tickers.get(request)
        if ticker is None:
            ticker = self._tickers[request] = _Ticker(self, request)
        inbox = ticker.join()
        try:
            while (snapshot := await inbox.get()) is not None:
                yield snapshot
        finally:
            if ticker.leave(inbox):
                self._tickers.pop(request, None)

    @property
    def watchers(self) -> int:
        return sum(len(t.inboxes) for t in self._tickers.values())

    async def close(self) -> None:
        """End every watch (their streams finish cleanly)."""
        self._closed = True
        tickers = list(self._tickers.values())
        self._tickers.clear()
        for ticker in tickers:
            await ticker.stop()


class _Ticker:
    """One (interval, window): computes a snapshot per tick and offers it to each inbox."""

    def __init__(self, live: LiveMetrics, request: Watch) -> None:
        self.live = live
        self.request = request
        self.inboxes: set[asyncio.Queue[LiveSnapshot | None]] = set()
        self.task = asyncio.create_task(self._run(), name=f"live-metrics-{request}")

    def join(self) -> asyncio.Queue[LiveSnapshot | None]:
        inbox: asyncio.Queue[LiveSnapshot | None] = asyncio.Queue(maxsize=1)
        self.inboxes.add(inbox)
        return inbox

    def leave(self, inbox: asyncio.Queue[LiveSnapshot | None]) -> bool:
        """Drop `inbox`; True when it was the last (the ticker has stopped)."""
        self.inboxes.discard(inbox)
        if self.inboxes:
            return False
        self.task.cancel()
        return True

    async def _run(self) -> None:
        interval = self.request.interval_ms / 1000
        while True:
            # Ticks fall on multiples of the interval, so watchers of one pair stay in step.
            left = interval - self.live.clock() % interval
            await asyncio.sleep(left if left > interval / 10 else left + interval)
            snapshot = self.live.snapshot(self.request.window_s)
            for inbox in self.inboxes:
                _offer(inbox, snapshot)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        for inbox in self.inboxes:
            _offer(inbox, None)


def _offer(inbox: asyncio.Queue[LiveSnapshot | None], item: LiveSnapshot | None) -> None:
    """Put `item`, replacing what the watcher has not read yet."""
    if inbox.full():
        inbox.get_nowait()
    inbox.put_nowait(item)
