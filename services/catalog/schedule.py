"""When to poll each provider next: interval with jitter, exponential backoff on failure,
Retry-After honoured, and a per-provider minimum gap between polls (the rate limit on
polling itself). Plain arithmetic over an injected clock and random source, so it is
tested without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

log = logging.getLogger("freeway.catalog")


@dataclass(frozen=True)
class Timing:
    """The knobs of the schedule (from CatalogSettings)."""

    jitter_fraction: float = 0.1
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    min_gap_s: float = 5.0


@dataclass(frozen=True)
class Outcome:
    """How a poll went: `retry_after` (seconds) when the provider asked us to wait."""

    ok: bool
    retry_after_s: float | None = None


def delay_after_success(interval_s: float, timing: Timing, rand: float) -> float:
    """The interval, spread by ±jitter so replicas and providers do not poll in lockstep."""
    spread = timing.jitter_fraction * (2.0 * rand - 1.0)
    return max(timing.min_gap_s, interval_s * (1.0 + spread))


def delay_after_failure(
    failures: int, timing: Timing, rand: float, retry_after_s: float | None = None
) -> float:
    """Exponential backoff (base·2^(n-1), capped, jittered down to half), never sooner than
    the provider's Retry-After."""
    exponent = min(max(failures, 1) - 1, 32)
    ceiling = min(timing.backoff_max_s, timing.backoff_base_s * 2.0**exponent)
    delay = ceiling * (0.5 + 0.5 * rand)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return max(timing.min_gap_s, delay)


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_wall)


@dataclass
class _Slot:
    due: float = 0.0  # monotonic
    failures: int = 0
    last_start: float | None = None


class TooSoon(Exception):
    """A forced poll came inside the provider's minimum gap; `wait_s` says how long to wait."""

    def __init__(self, name: str, wait_s: float) -> None:
        super().__init__(
            f"provider {name} was polled less than the minimum gap ago; retry in {wait_s:.1f}s"
        )
        self.wait_s = wait_s


PollFn = Callable[[str], Awaitable[Outcome]]


class Scheduler:
    """Polls every provider when due; `poll_now` forces one (serialised per provider)."""

    def __init__(
        self,
        poll: PollFn,
        intervals: dict[str, float],
        timing: Timing,
        on_next: Callable[[str, float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._poll = poll
        self._intervals = intervals
        self._timing = timing
        self._on_next = on_next
        self._clock = clock
        self._wall = wall
        self._rand = rand
        self._slots = {name: _Slot() for name in intervals}
        self.completed = dict.fromkeys(intervals, 0)  # polls finished, per provider
        self._locks = {name: asyncio.Lock() for name in intervals}
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    @property
    def names(self) -> Iterable[str]:
        return self._slots.keys()

    def next_due(self, name: str) -> float:
        """Monotonic time of the provider's next poll."""
        return self._slots[name].due

    def failures(self, name: str) -> int:
        return self._slots[name].failures

    async def run(self) -> None:
        """Poll due providers forever (cancel to stop); one bad provider never blocks others."""
        try:
            while True:
                now = self._clock()
                for name, slot in self._slots.items():
                    if slot.due <= now and not self._locks[name].locked():
                        task = asyncio.create_task(self._scheduled(name))
                        self._running.add(task)
                        task.add_done_callback(self._running.discard)
                await self._sleep_until_due()
        finally:
            for task in list(self._running):
                task.cancel()
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)

    async def _sleep_until_due(self) -> None:
        now = self._clock()
        idle = [s.due for n, s in self._slots.items() if not self._locks[n].locked()]
        timeout = max(0.0, min(idle) - now) if idle else None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _scheduled(self, name: str) -> None:
        try:
            await self.poll_now(name, forced=False)
        except TooSoon:
            pass
        finally:
            self._wake.set()

    def gap_wait(self, name: str) -> float:
        """Seconds until the provider may be polled again (0 when it may be polled now)."""
        last = self._slots[name].last_start
        if last is None:
            return 0.0
        return max(0.0, last + self._timing.min_gap_s - self._clock())

    async def poll_now(self, name: str, forced: bool = True) -> Outcome:
        """Poll `name` now and reschedule it; TooSoon inside the minimum gap."""
        slot = self._slots[name]
        async with self._locks[name]:
            wait = self.gap_wait(name)
            if wait > 0:
                if not forced:
                    slot.due = self._clock() + wait
                raise TooSoon(name, wait)
            slot.last_start = self._clock()
            try:
                outcome = await self._poll(name)
            except asyncio.CancelledError:
                raise
            except Exception:  # the poll function reports its own errors; this is a bug guard
                log.exception("poll of %s crashed", name)
                outcome = Outcome(ok=False)
            await self._reschedule(name, outcome)
            self.completed[name] += 1
        self._wake.set()
        return outcome

    async def _reschedule(self, name: str, outcome: Outcome) -> None:
        slot = self._slots[name]
        if outcome.ok:
            slot.failures = 0
            delay = delay_after_success(self._intervals[name], self._timing, self._rand())
        else:
            slot.failures += 1
            delay = delay_after_failure(
                slot.failures, self._timing, self._rand(), outcome.retry_after_s
            )
        slot.due = self._clock() + delay
        if self._on_next is not None:
            await self._on_next(name, self._wall() + delay)
