"""Poll timing: jitter, exponential backoff, Retry-After, the minimum gap; the scheduler
driven by an injected clock (no sleeping, no timing assertions)."""

from __future__ import annotations

import asyncio
from email.utils import formatdate

import pytest

from services.catalog.schedule import (
    Outcome,
    Scheduler,
    Timing,
    TooSoon,
    delay_after_failure,
    delay_after_success,
    parse_retry_after,
)

TIMING = Timing(jitter_fraction=0.1, backoff_base_s=30, backoff_max_s=3600, min_gap_s=5)


def test_success_delay_spreads_by_the_jitter_fraction() -> None:
    assert delay_after_success(600, TIMING, 0.0) == pytest.approx(540)
    assert delay_after_success(600, TIMING, 0.5) == pytest.approx(600)
    assert delay_after_success(600, TIMING, 1.0) == pytest.approx(660)
    assert delay_after_success(1, TIMING, 0.5) == 5  # never inside the minimum gap


def test_failure_delay_doubles_up_to_the_cap() -> None:
    ceilings = [delay_after_failure(n, TIMING, 1.0) for n in (1, 2, 3, 8, 50)]

    assert ceilings == [30, 60, 120, 3600, 3600]
    assert delay_after_failure(2, TIMING, 0.0) == 30  # jitter goes down to half


def test_failure_delay_honours_retry_after() -> None:
    assert delay_after_failure(1, TIMING, 1.0, retry_after_s=900) == 900
    assert delay_after_failure(3, TIMING, 1.0, retry_after_s=1) == 120


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = 1_700_000_000.0

    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now) == pytest.approx(90)
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_scheduler_reschedules_after_success_and_failure() -> None:
    clock = Clock()
    outcomes = [Outcome(ok=False, retry_after_s=700), Outcome(ok=False), Outcome(ok=True)]
    polled: list[str] = []
    announced: list[float] = []

    async def poll(name: str) -> Outcome:
        polled.append(name)
        return outcomes.pop(0)

    async def on_next(name: str, when: float) -> None:
        announced.append(when)

    timing = Timing(jitter_fraction=0.0, backoff_base_s=30, backoff_max_s=3600, min_gap_s=0)
    scheduler = Scheduler(poll, {"a": 600}, timing, on_next, clock, wall=clock, rand=lambda: 1.0)

    await scheduler.poll_now("a")
    assert scheduler.next_due("a") == 1700  # Retry-After beats the 30 s backoff
    await scheduler.poll_now("a")
    assert scheduler.failures("a") == 2
    assert scheduler.next_due("a") == 1060
    await scheduler.poll_now("a")

    assert scheduler.failures("a") == 0
    assert scheduler.next_due("a") == 1600
    assert announced == [1700, 1060, 1600]
    assert polled == ["a", "a", "a"]


async def test_forced_poll_inside_the_minimum_gap_is_refused() -> None:
    clock = Clock()

    async def poll(name: str) -> Outcome:
        return Outcome(ok=True)

    scheduler = Scheduler(poll, {"a": 600}, Timing(min_gap_s=10), clock=clock, wall=clock)
    await scheduler.poll_now("a")
    clock.now += 4

    with pytest.raises(TooSoon) as refused:
        await scheduler.poll_now("a")
    clock.now += 6
    await scheduler.poll_now("a")

    assert refused.value.wait_s == pytest.approx(6)


async def test_run_polls_every_due_provider_and_survives_a_crash() -> None:
    clock = Clock()
    done = {"good": asyncio.Event(), "bad": asyncio.Event()}

    async def poll(name: str) -> Outcome:
        done[name].set()
        if name == "bad":
            raise RuntimeError("bug in a poll")
        return Outcome(ok=True)

    scheduler = Scheduler(poll, {"good": 60, "bad": 60}, Timing(min_gap_s=0), clock=clock)
    runner = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(asyncio.gather(done["good"].wait(), done["bad"].wait()), 10)
    while scheduler.failures("bad") == 0 or scheduler.next_due("good") == 0:
        await asyncio.sleep(0)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)

    assert scheduler.failures("bad") == 1
    assert scheduler.failures("good") == 0
