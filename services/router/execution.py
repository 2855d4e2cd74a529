"""Calling the chosen model with fallbacks.

Candidates are tried in order. A retryable failure moves to the next one (for a stream only
while nothing has been passed on to the caller yet); a 429 holds that model for its
Retry-After (on the health board, here) and its free-tier quota key until then (in the quota
ledger, for every model sharing that quota and every replica); unhealthy failures feed its
breaker. Each attempt counts one request against the model's free-tier quota. A failure
that rejects the request itself ends the request with the provider's message. Every attempt
is written to the `Trace`, which the pipeline turns into the usage record whatever happens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.router.breaker import HealthBoard
from services.router.catalogue import ModelInfo
from services.router.chat import ChatParams, Completion, StreamEvent
from services.router.failures import Kind, UpstreamFailure
from services.router.quota import QuotaLedger
from services.shared.errors import (
    DeadlineExceeded,
    FreewayError,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)

log = logging.getLogger("freeway.router")


class Upstream(Protocol):
    """A provider client: one attempt at one model, failing with UpstreamFailure."""

    async def complete(
        self, model: ModelInfo, params: ChatParams, timeout: float
    ) -> Completion: ...

    def stream(
        self, model: ModelInfo, params: ChatParams, timeout: float
    ) -> AsyncGenerator[StreamEvent, None]: ...


@dataclass
class Trace:
    """What happened while executing one request (read by the usage record)."""

    started: float
    attempts: int = 0
    served: ModelInfo | None = None
    first_token: float | None = None
    failures: list[tuple[str, UpstreamFailure]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExecutionPolicy:
    attempt_timeout_s: float = 30.0
    retry_after_default_s: float = 5.0
    retry_after_max_s: float = 600.0


class Executor:
    """Runs a request against ranked candidates until one answers."""

    def __init__(
        self,
        upstream: Upstream,
        board: HealthBoard,
        policy: ExecutionPolicy,
        clock: Callable[[], float] = time.monotonic,
        quota: QuotaLedger | None = None,
    ) -> None:
        self.upstream = upstream
        self.board = board
        self.policy = policy
        self.clock = clock
        self.quota = quota

    async def complete(
        self,
        candidates: Sequence[ModelInfo],
        params: ChatParams,
        deadline: float | None,
        trace: Trace,
    ) -> Completion:
        """The first successful completion among `candidates`, or a typed error."""
        for model in self._usable(candidates, trace):
            timeout, capped = self._timeout(deadline)
            started = self.clock()
            self._attempt(model, trace)
            try:
                completion = await self.upstream.complete(model, params, timeout)
            except UpstreamFailure as failure:
                self._failed(model, failure, trace, capped)
                continue
            finally:
                self.board.finished(model.id)
            self._succeeded(model, started, trace)
            trace.first_token = self.clock()
            return completion
        raise self._exhausted(candidates, trace)

    async def stream(
        self,
        candidates: Sequence[ModelInfo],
        params: ChatParams,
        deadline: float | None,
        trace: Trace,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Events of the first candidate whose stream starts; falls back only before that."""
        for model in self._usable(candidates, trace):
            timeout, capped = self._timeout(deadline)
            started = self.clock()
            self._attempt(model, trace)
            events = self.upstream.stream(model, params, timeout)
            try:
                try:
                    first = await anext(events)
                except StopAsyncIteration:
                    empty = UpstreamFailure(Kind.MALFORMED, "stream ended before any chunk")
                    self._failed(model, empty, trace, capped)
                    continue
                except UpstreamFailure as failure:
                    self._failed(model, failure, trace, capped)
                    continue
                trace.served = model
                trace.first_token = self.clock()
                yield first
                try:
                    async for event in events:
                        yield event
                except UpstreamFailure as failure:
                    self._broken(model, failure)
                    raise Unavailable(f"{model.id} failed mid-stream: {failure}") from None
                self._succeeded(model, started, trace)
                return
            finally:
                self.board.finished(model.id)
                await events.aclose()
        raise self._exhausted(candidates, trace)

    def _attempt(self, model: ModelInfo, trace: Trace) -> None:
        trace.attempts += 1
        self.board.started(model.id)
        if self.quota is not None:
            self.quota.started(model)

    def _usable(self, candidates: Sequence[ModelInfo], trace: Trace) -> Iterator[ModelInfo]:
        """Candidates whose breaker, Retry-After hold and free-tier quota let them be tried,
        checked as each one's turn comes: a 429 from one model may use up the quota its
        later siblings share, and concurrent requests may have used it since the decision.

        A single explicit candidate is always tried: the caller asked for it by name.
        """
        if len(candidates) == 1:
            yield candidates[0]
            return
        for model in candidates:
            if self.board.available(model.id) and self._has_quota(model):
                yield model
            else:
                trace.skipped.append(model.id)

    def _has_quota(self, model: ModelInfo) -> bool:
        return self.quota is None or self.quota.remaining(model) > 0

    def _timeout(self, deadline: float | None) -> tuple[float, bool]:
        """This attempt's timeout and whether the caller's deadline (not ours) set it."""
        limit = self.policy.attempt_timeout_s
        if deadline is None:
            return limit, False
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise DeadlineExceeded("the request's deadline passed before a model answered")
        return (remaining, True) if remaining < limit else (limit, False)

    def _succeeded(self, model: ModelInfo, started: float, trace: Trace) -> None:
        trace.served = model
        self.board.succeeded(model.id, (self.clock() - started) * 1000)

    def _failed(
        self, model: ModelInfo, failure: UpstreamFailure, trace: Trace, capped: bool
    ) -> None:
        trace.failures.append((model.id, failure))
        log.warning("%s: %s", model.id, failure, extra={"attempt": trace.attempts})
        if failure.kind is Kind.TIMEOUT and capped:
            raise DeadlineExceeded(f"the request's deadline passed while waiting for {model.id}")
        if not failure.retryable:
            raise InvalidArgument(f"{model.id} rejected the request: {failure.message}")
        if failure.kind is Kind.RATE_LIMITED:
            self._rate_limited(model, failure.retry_after)
        elif failure.unhealthy:
            self.board.failed(model.id)

    def _rate_limited(self, model: ModelInfo, retry_after: float | None) -> None:
        """Hold the model for its Retry-After; without one, a model with free-tier limits
        waits for the end of the minute window (its quota resets then), others the default."""
        wait = retry_after
        if wait is None:
            if self.quota is not None and model.free_tier.stated:
                wait = self.quota.minute_left()
            else:
                wait = self.policy.retry_after_default_s
        wait = min(wait, self.policy.retry_after_max_s)
        self.board.hold(model.id, wait)
        if self.quota is not None:
            self.quota.exhausted(model, self.quota.clock() + wait)

    def _broken(self, model: ModelInfo, failure: UpstreamFailure) -> None:
        log.warning("%s: stream broke after the first chunk: %s", model.id, failure)
        if failure.unhealthy:
            self.board.failed(model.id)

    def _retry_in(self, model: ModelInfo) -> float:
        quota_wait = self.quota.retry_in(model) if self.quota is not None else 0.0
        return max(self.board.retry_in(model.id), quota_wait)

    def _exhausted(self, candidates: Sequence[ModelInfo], trace: Trace) -> FreewayError:
        """The error for a request every candidate failed (or was cooling down for)."""
        tried = "; ".join(f"{model_id}: {failure}" for model_id, failure in trace.failures)
        if not trace.failures:
            wait = min((self._retry_in(m) for m in candidates), default=0.0)
            return Unavailable(
                f"all {len(candidates)} candidates are cooling down "
                f"(breaker open, rate-limited or out of free-tier quota); "
                f"retry in {max(wait, 1.0):.0f}s"
            )
        if all(failure.kind is Kind.RATE_LIMITED for _, failure in trace.failures):
            return ResourceExhausted(f"every candidate is rate-limited: {tried}")
        return Unavailable(f"all {trace.attempts} attempts failed: {tried}")
