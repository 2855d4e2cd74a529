"""The routing pipeline: decide → execute with fallbacks → record usage, for every request.

This is what the servicer calls. It owns no I/O of its own: the router (kernel), the
executor (provider calls) and the usage sink (reporter) are handed in by the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from services.router.catalogue import ModelInfo
from services.router.chat import ChatParams, Completion, Delta
from services.router.execution import Executor, Trace
from services.router.quota import QuotaLedger
from services.router.routing import Decision, Router, RouteRequest
from services.router.usage import (
    Prices,
    Status,
    UsageRecord,
    UsageSink,
    estimate_tokens,
    model_cost,
)
from services.shared.errors import FreewayError


@dataclass(frozen=True)
class CompletionCall:
    """A completion request: how to route it, what to generate, and who asked."""

    route: RouteRequest
    params: ChatParams
    key_id: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class CompletionResult:
    completion: Completion
    decision: Decision
    model: ModelInfo
    attempts: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Chunk:
    """One chunk for the caller; the last one of a stream carries usage (and the deltas
    that finished the choices, when those came last)."""

    id: str
    created: int
    model: str
    deltas: tuple[Delta, ...]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class _Tally:
    """What a request has produced so far (for the usage record)."""

    decision: Decision | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported: bool = False  # the provider stated usage
    chars: int = 0  # of generated text so far


class Pipeline:
    """Route, call and account for completion requests."""

    def __init__(
        self,
        router: Router,
        executor: Executor,
        sink: UsageSink,
        baseline: Prices,
        clock: Callable[[], float] = time.monotonic,
        quota: QuotaLedger | None = None,
    ) -> None:
        self.router = router
        self.executor = executor
        self.sink = sink
        self.baseline = baseline
        self.clock = clock
        self.quota = quota

    def route(self, request: RouteRequest) -> Decision:
        """The decision only: no provider is called and no usage is recorded."""
        return self.router.decide(request)

    async def complete(self, call: CompletionCall, deadline: float | None) -> CompletionResult:
        """A full completion from the first candidate that answers."""
        self.sink.admit()
        trace = Trace(started=self.clock())
        tally = _Tally()
        try:
            tally.decision = decision = self.router.decide(call.route)
            completion = await self.executor.complete(
                decision.candidates, call.params, deadline, trace
            )
        except BaseException as exc:
            self._record(call, trace, tally, exc, stream=False)
            raise
        tally.chars = len(completion.text)
        _count(tally, completion.prompt_tokens, completion.completion_tokens)
        self._record(call, trace, tally, None, stream=False)
        assert trace.served is not None  # set by every successful execution
        return CompletionResult(
            completion,
            decision,
            trace.served,
            trace.attempts,
            tally.prompt_tokens,
            tally.completion_tokens,
        )

    async def stream(
        self, call: CompletionCall, deadline: float | None
    ) -> AsyncGenerator[Chunk, None]:
        """Chunks of the first candidate whose stream starts, then a final chunk with usage."""
        self.sink.admit()
        trace = Trace(started=self.clock())
        tally = _Tally()
        failure: BaseException | None = None
        recorded = False
        # one id and time for the whole stream, whatever the provider's chunks say
        stream_id, created = _chunk_id(), int(time.time())
        # A chunk that only says how choices finished carries no text: it is held back and
        # sent with the next chunk's turn, or as the deltas of the final (usage) chunk,
        # which saves a message per stream; the SSE events and their order stay the same.
        held: tuple[Delta, ...] = ()
        try:
            tally.decision = decision = self.router.decide(call.route)
            events = self.executor.stream(decision.candidates, call.params, deadline, trace)
            async with contextlib.aclosing(events):
                try:
                    async for event in events:
                        if event.has_usage:
                            tally.reported = True
                            tally.prompt_tokens = event.prompt_tokens or tally.prompt_tokens
                            tally.completion_tokens = (
                                event.completion_tokens or tally.completion_tokens
                            )
                        if not event.deltas:
                            continue
                        if held:
                            yield Chunk(stream_id, created, _served(trace), held)
                            held = ()
                        if _finish_only(event.deltas):
                            held = event.deltas
                            continue
                        tally.chars += sum(len(delta.content) for delta in event.deltas)
                        yield Chunk(stream_id, created, _served(trace), event.deltas)
                except FreewayError:
                    if held:  # what the caller would have had before the failure
                        yield Chunk(stream_id, created, _served(trace), held)
                    raise
            _count(tally, None, None)
            final = Chunk(
                stream_id,
                created,
                _served(trace),
                held,
                tally.prompt_tokens,
                tally.completion_tokens,
            )
            # Recorded before the final chunk leaves: an answered stream is never unrecorded.
            self._record(call, trace, tally, None, stream=True)
            recorded = True
            yield final
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if not recorded:
                self._record(call, trace, tally, failure, stream=True)

    def _record(
        self,
        call: CompletionCall,
        trace: Trace,
        tally: _Tally,
        failure: BaseException | None,
        *,
        stream: bool,
    ) -> None:
        """Hand the request's usage record to the sink (exactly once per request)."""
        status, error = _status(failure)
        decision, served = tally.decision, trace.served
        if status is not Status.OK and served is not None:
            _count(tally, None, None)  # a stream cut short still used tokens
        prompt, completion = (tally.prompt_tokens, tally.completion_tokens) if served else (0, 0)
        if served is not None and self.quota is not None:
            self.quota.record(served, prompt, completion)
        now = self.clock()
        self.sink.submit(
            UsageRecord(
                event_id=str(uuid.uuid4()),
                time=time.time(),
                key_id=call.key_id,
                request_id=call.request_id,
                requested_model=call.route.model or "auto",
                served_model=served.id if served else "",
                provider=served.provider if served else "",
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=model_cost(served, prompt, completion) if served else 0.0,
                baseline_cost_usd=self.baseline.cost(prompt, completion),
                latency_ms=(now - trace.started) * 1000,
                ttft_ms=(trace.first_token - trace.started) * 1000 if trace.first_token else 0.0,
                attempts=trace.attempts,
                status=status,
                complexity=decision.complexity if decision else 0.0,
                strategy=decision.strategy if decision else call.route.strategy,
                error=error,
                stream=stream,
            )
        )


def _count(tally: _Tally, prompt: int | None, completion: int | None) -> None:
    """Fill token counts: the provider's when stated, else estimates."""
    if prompt is not None or completion is not None:
        tally.reported = True
        tally.prompt_tokens = prompt or 0
        tally.completion_tokens = completion or 0
        return
    if tally.reported:
        return
    tally.prompt_tokens = tally.decision.prompt_tokens if tally.decision else 0
    tally.completion_tokens = estimate_tokens(tally.chars)


def _finish_only(deltas: tuple[Delta, ...]) -> bool:
    """Whether the deltas only end their choices (no role, no text)."""
    return all(d.finish_reason and not d.content and not d.role for d in deltas)


def _status(failure: BaseException | None) -> tuple[Status, str]:
    if failure is None:
        return Status.OK, ""
    if isinstance(failure, asyncio.CancelledError | GeneratorExit):
        return Status.CANCELLED, "cancelled by the caller"
    if isinstance(failure, FreewayError):
        return Status.ERROR, f"{failure.status}: {failure}"
    return Status.ERROR, f"internal error: {type(failure).__name__}"


def _served(trace: Trace) -> str:
    return trace.served.id if trace.served else ""


def _chunk_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
