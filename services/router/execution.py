"""Calling the chosen model with fallbacks.

Candidates are tried in order until one answers. An attempt that fails retryably moves on
to the next candidate at once; an attempt that is slow past what its model has shown
(`HealthBoard.wait_limit`: a smoothed time to its answer, or to its first streamed
content, plus four deviations; a cold default before anything is known) is *hedged*: the
next candidate starts beside it, and the first of them to answer wins while the others
are cancelled. So a model that stopped answering costs about its usual time, not the
whole deadline, and a model that is merely slow today still gets to answer. Every attempt
is bounded by the policy's ceiling and by the request's deadline.

A 429 holds that model for its Retry-After (on the health board) and its free-tier quota
key until then (in the quota ledger, for every model sharing it and every replica);
unhealthy failures feed its breaker; a half-open breaker lets one request at a time probe
its model. A 4xx is read for what it says (see `failures`): the model's own refusal moves
on, the request's fault goes back to the caller.

With the cascade strategy every answer is checked (`checks`: empty, a refusal, cut off,
not the JSON or schema asked for, tool arguments that do not parse); one that fails
escalates to the next, stronger candidate, and when none passes the strongest answer is
returned. A cascade stream is checked whole before its first chunk leaves.

A stream is committed to a model only at its first content (text, a tool call, reasoning,
a finish): until then its chunks are held, and a failure still falls back. After that, a
failure — including a stream that ends before saying how it finished — is an error for
the caller: never a short answer passed off as whole. Every attempt is written to the
`Trace`, which the pipeline turns into the usage record whatever happens.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from services.router.breaker import HALF_OPEN, OPEN, HealthBoard
from services.router.catalogue import ModelInfo
from services.router.failures import Kind, UpstreamFailure
from services.router.quota import QuotaLedger
from services.router.reply import (
    Answer,
    MalformedReply,
    StreamReader,
    decode_chunk,
    read_completion,
)
from services.router.request import ChatRequest
from services.router.upstream import StreamItem
from services.shared.errors import (
    DeadlineExceeded,
    FreewayError,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)

log = logging.getLogger("freeway.router")

T = TypeVar("T")
_ANSWER = False  # HealthBoard's `stream` flag: the wait for a whole answer
_FIRST_CONTENT = True
# Cancelled attempts finish their clean-up in the background; hold them until they do.
_CLOSING: set[asyncio.Task[object]] = set()


class Upstream(Protocol):
    """A provider client: one attempt at one model, failing with UpstreamFailure."""

    async def complete(self, model: ModelInfo, chat: ChatRequest, timeout: float) -> bytes: ...

    def stream(
        self, model: ModelInfo, chat: ChatRequest, timeout: float
    ) -> AsyncGenerator[StreamItem, None]: ...


@dataclass
class Trace:
    """What happened while executing one request (read by the usage record)."""

    started: float
    attempts: int = 0
    hedged: int = 0  # attempts started beside a slow one
    escalations: list[str] = field(default_factory=list)  # why each checked answer failed
    served: ModelInfo | None = None
    first_token: float | None = None
    failures: list[tuple[str, UpstreamFailure]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reader: StreamReader | None = None  # the committed stream's reader


# More candidates when a decision's are used up: the router decides again without them.
Further = Callable[[frozenset[str]], Sequence[ModelInfo]]


@dataclass(frozen=True)
class ExecutionPolicy:
    attempt_timeout_s: float = 30.0  # the most one attempt may wait for its answer / next bytes
    max_attempts: int = 32  # across a decision's candidates and the ones asked for after them
    hedge_floor_s: float = 0.25  # never hedge an attempt sooner than this
    hedge_cold_s: float = 2.0  # the hedge delay before any model has answered
    retry_after_default_s: float = 5.0
    retry_after_max_s: float = 600.0


@dataclass
class _Attempt(Generic[T]):
    model: ModelInfo
    probe: bool  # holds the model's half-open probe
    started: float
    capped: bool  # the request's deadline, not the policy, bounds it
    task: asyncio.Task[T]
    finished: bool = False  # its model's in-flight count was already given back
    slow: bool = False  # the next candidate was started beside it: it took too long


class PoorAnswer(UpstreamFailure):
    """An answer that failed the cascade's check: the next candidate is asked, and this
    one is kept in case none does better."""

    def __init__(self, reason: str, result: object) -> None:
        super().__init__(Kind.POOR_ANSWER, reason)
        self.result = result


Check = Callable[[Sequence[tuple[Mapping[str, object], str]]], str]


@dataclass
class _Opened:
    """A stream that committed: its reader, the rest of its events, what it held back."""

    reader: StreamReader
    events: AsyncGenerator[StreamItem, None]
    held: list[bytes]


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
        chat: ChatRequest,
        deadline: float | None,
        trace: Trace,
        completion_id: str,
        check: Check | None = None,
        further: Further | None = None,
    ) -> Answer:
        """The first successful completion among `candidates` (that passes `check`, when
        given), or a typed error."""

        async def attempt(model: ModelInfo, timeout: float) -> Answer:
            raw = await self.upstream.complete(model, chat, timeout)
            answer = read_completion(raw, model.id, completion_id, chat.n, int(time.time()))
            if check is not None:
                choices = answer.body["choices"]
                problem = check([(c["message"], c["finish_reason"]) for c in choices])
                if problem:
                    raise PoorAnswer(problem, answer)
            return answer

        won, answer = await self._race(
            candidates, deadline, trace, _ANSWER, attempt, further=further
        )
        if not won.finished:
            self.board.finished(won.model.id, probe=won.probe)
        self._succeeded(won, trace, _ANSWER)
        trace.first_token = self.clock()
        return answer

    async def stream(
        self,
        candidates: Sequence[ModelInfo],
        chat: ChatRequest,
        deadline: float | None,
        trace: Trace,
        stream_id: str,
        created: int,
        check: Check | None = None,
        keep: bool = False,
        further: Further | None = None,
    ) -> AsyncGenerator[list[bytes], None]:
        """Client chunks (JSON texts) of the first candidate whose stream commits, a list
        per provider read; falls back only before the commit (which, with `check`, is when
        the whole answer has arrived and passed it). `keep`: the reader assembles the
        answer (`trace.reader.messages()`), for the response cache."""

        async def attempt(model: ModelInfo, timeout: float) -> _Opened:
            return await self._open(model, chat, timeout, stream_id, created, check, keep)

        won, opened = await self._race(
            candidates, deadline, trace, _FIRST_CONTENT, attempt, _close_opened, further
        )
        model = won.model
        trace.served = model
        trace.first_token = self.clock()
        trace.reader = reader = opened.reader
        self.board.waited(model.id, _FIRST_CONTENT, trace.first_token - won.started)
        try:
            yield opened.held
            try:
                async for item in opened.events:
                    out = _read_item(reader, item)
                    if out:
                        yield out
                reader.finish()
            except UpstreamFailure as failure:
                if not reader.finished:
                    raise self._broken(model, failure) from None
                # every choice had finished: the answer is whole, only its tail was lost
                log.info("%s: the stream broke after its answer ended: %s", model.id, failure)
            except MalformedReply as exc:
                raise self._broken(model, _malformed(exc)) from None
            self._succeeded(won, trace, None)
        finally:
            if not won.finished:
                self.board.finished(model.id, probe=won.probe)
            with contextlib.suppress(Exception):
                await opened.events.aclose()

    async def _open(
        self,
        model: ModelInfo,
        chat: ChatRequest,
        timeout: float,
        stream_id: str,
        created: int,
        check: Check | None = None,
        keep: bool = False,
    ) -> _Opened:
        """Read a stream up to its first content (holding what came before) — or, with
        `check`, to its end, and check the whole answer."""
        assemble = keep or check is not None
        reader = StreamReader(model.id, stream_id, created, chat.n, assemble=assemble)
        events = self.upstream.stream(model, chat, timeout)
        held: list[bytes] = []
        try:
            while check is not None or not reader.committed:
                item = await anext(events, None)
                if item is None:
                    reader.finish()  # says which choice never finished
                    if not reader.committed:
                        raise MalformedReply("the stream ended before any content")
                    break
                held += _read_item(reader, item)
        except BaseException:
            with contextlib.suppress(Exception):
                await events.aclose()
            raise
        opened = _Opened(reader, events, held)
        if check is not None:
            problem = check(reader.messages())
            if problem:
                raise PoorAnswer(problem, opened)
        return opened

    async def _race(
        self,
        candidates: Sequence[ModelInfo],
        deadline: float | None,
        trace: Trace,
        stream: bool,
        run: Callable[[ModelInfo, float], Awaitable[T]],
        discard: Callable[[T], Awaitable[None]] | None = None,
        further: Further | None = None,
    ) -> tuple[_Attempt[T], T]:
        """The first attempt to succeed, trying candidates in order: the next one starts
        when an attempt fails, or beside it when it is slow past its hedge delay; when the
        candidates are used up, `further` may name more (while attempts are left)."""
        usable = self._usable(candidates, trace, further)
        running: list[_Attempt[T]] = []
        more = True
        best: tuple[_Attempt[T], T] | None = None  # the strongest answer that failed a check

        def launch() -> bool:
            for model, probe in usable:
                timeout, capped = self._timeout(deadline)
                self._attempt(model, trace)
                task = asyncio.ensure_future(run(model, timeout))
                running.append(_Attempt(model, probe, self.clock(), capped, task))
                return True
            return False

        try:
            more = launch()
            while running:
                wait = self._hedge_wait(running[-1], stream) if more else None
                done, _ = await asyncio.wait(
                    [a.task for a in running], timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # the newest attempt is slow: start the next one beside it
                    slow = running[-1]
                    if not slow.slow:
                        slow.slow = True
                        # A model this slow may have stopped answering: other requests try
                        # it last from now on (an answer after all clears it, as any does).
                        log.info("%s: slow, trying the next candidate beside it", slow.model.id)
                        self.board.failed(slow.model.id)
                    more = launch()
                    trace.hedged += more
                    continue
                for attempt in [a for a in running if a.task in done]:
                    running.remove(attempt)
                    failure = _failure(attempt.task)
                    if failure is None:
                        return attempt, attempt.task.result()
                    self.board.finished(attempt.model.id, probe=attempt.probe)
                    attempt.finished = True
                    if isinstance(failure, PoorAnswer):  # answered: healthy, but not good
                        trace.escalations.append(failure.message)
                        if best is not None and discard is not None:
                            _background(discard(best[1]))
                        best = (attempt, failure.result)  # type: ignore[assignment]
                        continue
                    self._failed(attempt.model, failure, trace, attempt.capped)
                if not running:
                    more = launch()
            if best is not None:
                trace.escalations.append("none better")
                return best
            raise self._exhausted(candidates, trace)
        finally:
            for attempt in running:  # the losers, or all of them on an error
                self._cancel(attempt, discard)

    def _cancel(self, attempt: _Attempt[T], discard: Callable[[T], Awaitable[None]] | None) -> None:
        """Stop a losing attempt; one that won too late is discarded (its stream closed)."""
        task = attempt.task
        self.board.finished(attempt.model.id, probe=attempt.probe)
        if task.done():
            if discard is not None and not task.cancelled() and task.exception() is None:
                _background(discard(task.result()))
            return
        task.cancel()
        _CLOSING.add(task)
        task.add_done_callback(_forget)

    def _hedge_wait(self, attempt: _Attempt[T], stream: bool) -> float:
        """Seconds left before `attempt` is slow enough to start the next candidate."""
        policy = self.policy
        shown = self.board.wait_limit(attempt.model.id, stream)
        delay = policy.hedge_cold_s if shown is None else max(shown, policy.hedge_floor_s)
        return max(0.0, attempt.started + delay - self.clock())

    def _attempt(self, model: ModelInfo, trace: Trace) -> None:
        trace.attempts += 1
        self.board.started(model.id)
        if self.quota is not None:
            self.quota.started(model)

    def _usable(
        self, candidates: Sequence[ModelInfo], trace: Trace, further: Further | None = None
    ) -> Iterator[tuple[ModelInfo, bool]]:
        """Candidates whose breaker, Retry-After hold and free-tier quota let them be tried
        (with whether this request holds the model's half-open probe), checked as each
        one's turn comes: a 429 from one model may use up the quota its later siblings
        share, and concurrent requests may have used it since the decision.

        When they are used up, `further` names more, so that a request finds a healthy
        model while one exists (up to the policy's attempts). Two kinds are kept for last:
        models that failed lately (another request found out), and — once this request is
        falling back — models another request is trying right now, so that concurrent
        requests that lost their first choice find out about different models at once.

        A single explicit candidate is always tried: the caller asked for it by name.
        """
        if len(candidates) == 1 and further is None:
            yield candidates[0], False
            return
        seen: set[str] = set()
        fresh = collections.deque(candidates)
        busy: list[ModelInfo] = []
        suspects: list[ModelInfo] = []
        falling_back = exhausted = False
        while trace.attempts < self.policy.max_attempts:
            if not fresh and further is not None and not exhausted:
                found = [m for m in further(frozenset(seen)) if m.id not in seen]
                exhausted = not found  # nothing new: do not ask again
                fresh.extend(found)
            if fresh:
                model = fresh.popleft()
                if model.id in seen:
                    continue
                seen.add(model.id)
                if self.board.suspect(model.id):
                    suspects.append(model)
                    continue
                if falling_back and self.board.inflight.get(model.id):
                    busy.append(model)
                    continue
            elif busy or suspects:
                model = (busy or suspects).pop(0)
            else:
                return
            if not self._has_quota(model):
                trace.skipped.append(model.id)
                continue
            state = self.board.admit(model.id)
            if state == OPEN:
                trace.skipped.append(model.id)
                continue
            falling_back = True
            yield model, state == HALF_OPEN

    def _has_quota(self, model: ModelInfo) -> bool:
        return self.quota is None or self.quota.remaining(model) > 0

    def _timeout(self, deadline: float | None) -> tuple[float, bool]:
        """An attempt's ceiling, and whether the caller's deadline (not ours) set it."""
        limit = self.policy.attempt_timeout_s
        if deadline is None:
            return limit, False
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise DeadlineExceeded("the request's deadline passed before a model answered")
        return (remaining, True) if remaining < limit else (limit, False)

    def _succeeded(self, attempt: _Attempt[T], trace: Trace, wait: bool | None) -> None:
        trace.served = attempt.model
        now = self.clock()
        if wait is not None:
            self.board.waited(attempt.model.id, wait, now - attempt.started)
        self.board.succeeded(attempt.model.id, (now - attempt.started) * 1000)

    def _failed(
        self, model: ModelInfo, failure: UpstreamFailure, trace: Trace, capped: bool
    ) -> None:
        trace.failures.append((model.id, failure))
        log.warning("%s: %s", model.id, failure, extra={"attempt": trace.attempts})
        if failure.kind is Kind.TIMEOUT and capped:
            raise DeadlineExceeded(f"the request's deadline passed while waiting for {model.id}")
        if not failure.retryable:
            raise InvalidArgument(
                f"{model.id} rejected the request: {failure.message}", code="invalid_request"
            )
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

    def _broken(self, model: ModelInfo, failure: UpstreamFailure) -> FreewayError:
        log.warning("%s: stream broke after it started: %s", model.id, failure)
        if failure.unhealthy:
            self.board.failed(model.id)
        return Unavailable(f"{model.id} failed mid-stream: {failure}", code="stream_interrupted")

    def _retry_in(self, model: ModelInfo) -> float:
        quota_wait = self.quota.retry_in(model) if self.quota is not None else 0.0
        return max(self.board.retry_in(model.id), quota_wait)

    def _exhausted(self, candidates: Sequence[ModelInfo], trace: Trace) -> FreewayError:
        """The error for a request every candidate failed (or was cooling down for)."""
        tried = "; ".join(f"{model_id}: {failure}" for model_id, failure in trace.failures)
        wait = max(min((self._retry_in(m) for m in candidates), default=0.0), 1.0)
        if not trace.failures:
            return Unavailable(
                f"all {len(candidates)} candidates are cooling down "
                f"(breaker open, rate-limited or out of free-tier quota); retry in {wait:.0f}s",
                retry_after_s=wait,
            )
        kinds = {failure.kind for _, failure in trace.failures}
        if kinds == {Kind.RATE_LIMITED}:
            return ResourceExhausted(
                f"every candidate is rate-limited: {tried}",
                code="rate_limit_exceeded",
                retry_after_s=wait,
            )
        if all(failure.rejection for _, failure in trace.failures):
            return InvalidArgument(
                f"every candidate rejected the request: {tried}", code="invalid_request"
            )
        return Unavailable(f"all {trace.attempts} attempts failed: {tried}")


def _failure(task: asyncio.Task[T]) -> UpstreamFailure | None:
    """A finished attempt's failure (None when it succeeded); other errors propagate."""
    exc = task.exception()
    if exc is None:
        return None
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, MalformedReply):
        return _malformed(exc)
    raise exc


def _read_item(reader: StreamReader, item: StreamItem) -> list[bytes]:
    """The client chunks of one provider read (SSE payloads, or a whole JSON answer)."""
    if isinstance(item, bytes):
        return reader.feed_answer(item)
    docs = [decode_chunk(p) for p in item if p.strip() != b"[DONE]"]
    return reader.feed(docs) if docs else []


def _malformed(exc: MalformedReply) -> UpstreamFailure:
    return UpstreamFailure(Kind.MALFORMED, str(exc)[:300])


async def _close_opened(opened: _Opened) -> None:
    with contextlib.suppress(Exception):
        await opened.events.aclose()


def _background(coroutine: Awaitable[None]) -> None:
    task = asyncio.ensure_future(coroutine)
    _CLOSING.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[object]) -> None:
    _CLOSING.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
