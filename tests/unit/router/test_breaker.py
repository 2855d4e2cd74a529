"""Circuit breakers and Retry-After holds on a fake clock."""

from __future__ import annotations

from services.router.breaker import CLOSED, HALF_OPEN, OPEN, BreakerPolicy, HealthBoard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(clock: Clock) -> HealthBoard:
    return HealthBoard(BreakerPolicy(failures=3, cooldown_s=10.0, max_cooldown_s=25.0), clock)


def test_opens_after_consecutive_failures_then_half_opens_after_cooldown() -> None:
    clock = Clock()
    health = board(clock)
    health.failed("m")
    health.failed("m")
    assert health.state("m") == CLOSED
    health.failed("m")
    assert health.state("m") == OPEN
    assert health.abnormal() == {"m": OPEN}
    assert health.retry_in("m") == 10.0
    clock.now += 10.0
    assert health.state("m") == HALF_OPEN
    assert health.available("m")


def test_success_resets_the_count_and_closes_a_half_open_breaker() -> None:
    clock = Clock()
    health = board(clock)
    health.failed("m")
    health.failed("m")
    health.succeeded("m", 120.0)
    health.failed("m")
    health.failed("m")
    assert health.state("m") == CLOSED
    health.failed("m")
    clock.now += 10.0
    health.succeeded("m", 80.0)
    assert health.state("m") == CLOSED
    assert health.abnormal() == {}


def test_failure_while_half_open_reopens_with_a_longer_capped_cooldown() -> None:
    clock = Clock()
    health = board(clock)
    for _ in range(3):
        health.failed("m")
    clock.now += 10.0
    health.failed("m")
    assert health.state("m") == OPEN
    assert health.retry_in("m") == 20.0
    clock.now += 20.0
    health.failed("m")
    assert health.retry_in("m") == 25.0


def test_hold_reads_as_open_until_it_expires() -> None:
    clock = Clock()
    health = board(clock)
    version = health.version
    health.hold("m", 30.0)
    assert health.version > version
    assert health.state("m") == OPEN
    assert health.next_expiry() == 1030.0
    clock.now += 30.0
    assert health.state("m") == CLOSED
    assert health.abnormal() == {}
    assert health.next_expiry() == float("inf")


def test_state_changes_move_the_version_and_averages_track_samples() -> None:
    clock = Clock()
    health = board(clock)
    start = health.version
    health.succeeded("m", 100.0)
    assert health.version == start  # a healthy success changes no state
    health.succeeded("m", 200.0)
    assert 100.0 < health.latency_ms["m"] < 200.0
    health.failed("m")
    assert 0.0 < health.error_rate["m"] < 1.0
    health.started("m")
    health.started("m")
    health.finished("m")
    assert health.inflight == {"m": 1}
    health.finished("m")
    assert health.inflight == {}
