"""Calling the chosen model with fallbacks.

Candidates are tried in order. A retryable failure moves to the next one (for a stream only
while nothing has been passed on to the caller yet); a 429 holds that model for its
Retry-After; unhealthy failures feed its breaker. A failure that rejects the request itself
ends the request with the provider's message. Every attempt is written to the `Trace`, which
the pipeline turns into the usage record whatever happens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.router.breaker import HealthBoard
from services.router.catalogue import ModelInfo
from services.router.chat import ChatParams, Completion, StreamEvent
from services.router.failures import Kind, UpstreamFailure
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
    ) -> None:
        self.upstream = upstream
        self.board = board
        self.policy = policy
        self.clock = clock

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
            trace.attempts += 1
            self.board.started(model.id)
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
            trace.attempts += 1
            self.board.started(model.id)
            events = self.upstream.stream(model, params, timeout)
            try:
                try:
                    first = await anext(events)
                except StopAsyncIteration:
                    first = None
                    failure = UpstreamFailure(Kind.MALFORMED, "stream ended before any chunk")
                    self._failed(model, failure, trace, capped)
                except UpstreamFailure as failure:
                    self._failed(model, failure, trace, capped)
                    first = None
                if first is None:
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

    def _usable(self, candidates: Sequence[ModelInfo], trace: Trace) -> list[ModelInfo]:
        """Candidates whose breaker or Retry-After hold lets them be tried now.

        A single explicit candidate is always tried: the caller asked for it by name.
        """
        if len(candidates) == 1:
            return list(candidates)
        usable = [m for m in candidates if self.board.available(m.id)]
        trace.skipped = [m.id for m in candidates if m not in usable]
        return usable

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
            wait = failure.retry_after
            hold = self.policy.retry_after_default_s if wait is None else wait
            self.board.hold(model.id, min(hold, self.policy.retry_after_max_s))
        elif failure.unhealthy:
            self.board.failed(model.id)

    def _broken(self, model: ModelInfo, failure: UpstreamFailure) -> None:
        log.warning("%s: stream broke after the first chunk: %s", model.id, failure)
        if failure.unhealthy:
            self.board.failed(model.id)

    def _exhausted(self, candidates: Sequence[ModelInfo], trace: Trace) -> FreewayError:
        """The error for a request every candidate failed (or was cooling down for)."""
        tried = "; ".join(f"{model_id}: {failure}" for model_id, failure in trace.failures)
        if not trace.failures:
            wait = min((self.board.retry_in(m.id) for m in candidates), default=0.0)
            return Unavailable(
                f"all {len(candidates)} candidates are cooling down "
                f"(breaker open or rate-limited); retry in {max(wait, 1.0):.0f}s"
            )
        if all(failure.kind is Kind.RATE_LIMITED for _, failure in trace.failures):
            return ResourceExhausted(f"every candidate is rate-limited: {tried}")
        return Unavailable(f"all {trace.attempts} attempts failed: {tried}")
