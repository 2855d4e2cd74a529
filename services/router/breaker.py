"""Per-model health: circuit breakers, Retry-After holds, latency, error rate and load.

A model's breaker opens after `failures` consecutive failures and stays open for a cooldown
(doubling on each re-open, up to `max_cooldown_s`); then it is half-open: the next request
may try it, a success closes it, a failure opens it again. A 429 holds the model until its
Retry-After has passed. Routing reads the board through `state`, `abnormal` and the
`latency_ms` / `error_rate` / `inflight` maps; `version` moves on every state change so
routing knows when its health columns are stale.

How long to wait for a model's first content (or whole answer) adapts to what it has
shown, the way TCP sets its retransmission timeout: a smoothed time plus four times its
smoothed deviation (`wait_limit`), per model, else over all models, else a cold default;
always within the policy's floor and ceiling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

CLOSED = 0
HALF_OPEN = 1
OPEN = 2

_EWMA = 0.2  # weight of the newest sample in the latency / error-rate averages


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 3
    cooldown_s: float = 30.0
    max_cooldown_s: float = 300.0


@dataclass
class WaitEstimate:
    """Smoothed time and deviation of a wait (seconds), RFC 6298's way."""

    srtt: float
    rttvar: float

    def add(self, sample: float) -> None:
        self.rttvar += 0.25 * (abs(self.srtt - sample) - self.rttvar)
        self.srtt += 0.125 * (sample - self.srtt)

    @property
    def limit(self) -> float:
        return self.srtt + 4 * self.rttvar


@dataclass
class _Breaker:
    failures: int = 0  # consecutive
    last_failed: float = 0.0
    opened_until: float = 0.0
    cooldown_s: float = 0.0
    tripped: bool = False  # opened at least once and not closed by a success since


class HealthBoard:
    """Health of every model the router has called; models never called are healthy."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.version = 0
        self._breakers: dict[str, _Breaker] = {}
        self._held_until: dict[str, float] = {}
        self.latency_ms: dict[str, float] = {}
        self.error_rate: dict[str, float] = {}
        self.inflight: dict[str, int] = {}
        self._probing: set[str] = set()
        self._waits: dict[tuple[str, bool], WaitEstimate] = {}
        self._global_waits: dict[bool, WaitEstimate] = {}

    def suspect(self, model_id: str) -> bool:
        """Whether the model failed lately without succeeding since (its breaker not yet
        open): tried after the others, so one failure already steers requests away."""
        breaker = self._breakers.get(model_id)
        if breaker is None or breaker.failures == 0:
            return False
        return self.clock() - breaker.last_failed < self.policy.cooldown_s

    def admit(self, model_id: str) -> int:
        """Whether a request may try `model_id` now: CLOSED (go), HALF_OPEN (go: the
        request holds the model's one probe until `finished(..., probe=True)`) or OPEN
        (skip: open, held, or another request is probing it)."""
        state = self.state(model_id)
        if state == HALF_OPEN:
            if model_id in self._probing:
                return OPEN
            self._probing.add(model_id)
        return state

    def waited(self, model_id: str, stream: bool, seconds: float) -> None:
        """A successful attempt's time to first content (stream) or to its answer."""
        _sample(self._waits, (model_id, stream), seconds)
        _sample(self._global_waits, stream, seconds)

    def wait_limit(self, model_id: str, stream: bool) -> float | None:
        """How long this model has shown it may take (None: nothing known anywhere, so
        the caller's cold default applies)."""
        estimate = self._waits.get((model_id, stream)) or self._global_waits.get(stream)
        return None if estimate is None else estimate.limit

    def state(self, model_id: str) -> int:
        """CLOSED, HALF_OPEN or OPEN (a Retry-After hold reads as OPEN)."""
        now = self.clock()
        if self._held_until.get(model_id, 0.0) > now:
            return OPEN
        breaker = self._breakers.get(model_id)
        if breaker is None or not breaker.tripped:
            return CLOSED
        return OPEN if breaker.opened_until > now else HALF_OPEN

    def available(self, model_id: str) -> bool:
        return self.state(model_id) != OPEN

    def abnormal(self) -> dict[str, int]:
        """Every model whose state is not CLOSED right now, with its state."""
        now = self.clock()
        self._held_until = {k: t for k, t in self._held_until.items() if t > now}
        ids = {*self._held_until, *(k for k, b in self._breakers.items() if b.tripped)}
        states = {model_id: self.state(model_id) for model_id in ids}
        return {model_id: state for model_id, state in states.items() if state != CLOSED}

    def next_expiry(self) -> float:
        """The earliest future time at which some state changes by itself (inf if none)."""
        now = self.clock()
        times = [t for t in self._held_until.values() if t > now]
        times += [
            b.opened_until for b in self._breakers.values() if b.tripped and b.opened_until > now
        ]
        return min(times, default=float("inf"))

    def retry_in(self, model_id: str) -> float:
        """Seconds until the model may be tried again (0 when it may be tried now)."""
        now = self.clock()
        breaker = self._breakers.get(model_id)
        until = max(self._held_until.get(model_id, 0.0), breaker.opened_until if breaker else 0.0)
        return max(0.0, until - now)

    def started(self, model_id: str) -> None:
        self.inflight[model_id] = self.inflight.get(model_id, 0) + 1

    def finished(self, model_id: str, *, probe: bool = False) -> None:
        if probe:
            self._probing.discard(model_id)
        left = self.inflight.get(model_id, 0) - 1
        if left > 0:
            self.inflight[model_id] = left
        else:
            self.inflight.pop(model_id, None)

    def succeeded(self, model_id: str, latency_ms: float) -> None:
        """A successful call: closes a half-open breaker and resets the failure count."""
        self._average(self.latency_ms, model_id, latency_ms)
        self._average(self.error_rate, model_id, 0.0)
        breaker = self._breakers.pop(model_id, None)
        if breaker is not None and breaker.tripped:
            self.version += 1

    def failed(self, model_id: str) -> None:
        """A failure that says the model is unhealthy (connect error, timeout, 5xx, garbage)."""
        self._average(self.error_rate, model_id, 1.0)
        breaker = self._breakers.setdefault(model_id, _Breaker())
        breaker.failures += 1
        now = self.clock()
        breaker.last_failed = now
        half_open = breaker.tripped and breaker.opened_until <= now
        if half_open or breaker.failures >= self.policy.failures:
            self._open(breaker, now)

    def hold(self, model_id: str, seconds: float) -> None:
        """Skip the model for `seconds` (a 429's Retry-After)."""
        until = self.clock() + seconds
        if until > self._held_until.get(model_id, 0.0):
            self._held_until[model_id] = until
            self.version += 1

    def _open(self, breaker: _Breaker, now: float) -> None:
        if breaker.tripped:
            breaker.cooldown_s = min(breaker.cooldown_s * 2, self.policy.max_cooldown_s)
        else:
            breaker.cooldown_s = self.policy.cooldown_s
        breaker.tripped = True
        breaker.opened_until = now + breaker.cooldown_s
        breaker.failures = 0
        self.version += 1

    @staticmethod
    def _average(values: dict[str, float], model_id: str, sample: float) -> None:
        old = values.get(model_id)
        values[model_id] = sample if old is None else old + _EWMA * (sample - old)


K = TypeVar("K")


def _sample(table: dict[K, WaitEstimate], key: K, seconds: float) -> None:
    estimate = table.get(key)
    if estimate is None:
        table[key] = WaitEstimate(seconds, seconds / 2)
    else:
        estimate.add(seconds)
