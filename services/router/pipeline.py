"""The routing pipeline: decide → execute with fallbacks → account, for every request.

This is what the servicer calls. It owns no I/O of its own: the router (kernel), the
executor (provider calls) and the usage sink (reporter) are handed in by the app.
Accounting is exact where the provider states usage and an estimate (marked so) where
not; an unknown price stays unknown (no cost, no saving claimed), never $0. The usage
record of a request is handed to the sink before its answer (or its last chunk) leaves,
so an answered request is never unrecorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

import orjson

from services.router import strategies
from services.router.cache import CACHE_DEFAULT, Entry, ResponseCache, cache_key, cacheable
from services.router.catalogue import ModelInfo
from services.router.checks import answer_check
from services.router.execution import Check, Executor, Further, Trace
from services.router.quota import QuotaLedger
from services.router.reply import StreamReader, Usage, new_id, usage_of
from services.router.request import JSON_OBJECT, ChatRequest
from services.router.routing import Decision, Router, RouteRequest
from services.router.usage import (
    Prices,
    Status,
    UsageRecord,
    UsageSink,
    estimate_tokens,
    model_cost,
)
from services.shared.errors import FreewayError, InvalidArgument
from services.shared.ids import uuid7
from services.shared.vocabulary import strategy_name


@dataclass(frozen=True)
class CompletionCall:
    """A completion request: the validated chat, how to route it, and who asked."""

    chat: ChatRequest
    route: RouteRequest
    key_id: str = ""
    team_id: str = ""
    request_id: str = ""
    cache: int = CACHE_DEFAULT  # the caller's say on the response cache (cache.CACHE_*)


@dataclass(frozen=True)
class Outcome:
    """Who answered, what it used and cost, and why that model."""

    id: str
    model: ModelInfo | None
    decision: Decision | None
    attempts: int
    usage: Usage | None = None  # set once the answer is whole
    cost_usd: float | None = None  # None: unknown price
    saved_usd: float | None = None
    cache_hit: bool = False

    def block(self) -> dict[str, object]:
        """Freeway's block in the answer's JSON: who, what it cost, and why."""
        decision = self.decision
        return {
            "provider": self.model.provider if self.model else "",
            "strategy": strategy_name(decision.strategy) if decision else "",
            "complexity": round(decision.complexity, 4) if decision else 0.0,
            "attempts": self.attempts,
            "free": bool(self.model and self.model.is_free),
            "cost_usd": self.cost_usd,
            "saved_usd": self.saved_usd,
            "usage_estimated": bool(self.usage and not self.usage.stated),
            "cache_hit": self.cache_hit,
            "reason": decision.reason if decision else CACHED_REASON if self.cache_hit else "",
        }


@dataclass(frozen=True)
class StreamPart:
    """What goes to the caller in one message: client chunks, and the outcome on the
    first message (without usage) and on the last (with it)."""

    events: list[bytes]
    outcome: Outcome | None = None


CACHED_REASON = "the same request was answered before: from the response cache"


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
        cache: ResponseCache | None = None,
        keep_features: bool = False,
    ) -> None:
        self.router = router
        self.executor = executor
        self.sink = sink
        self.baseline = baseline
        self.clock = clock
        self.quota = quota
        self.cache = cache
        self.keep_features = keep_features  # the operator's opt-in: vectors, never text

    def route(self, request: RouteRequest) -> Decision:
        """The decision only: no provider is called and no usage is recorded."""
        return self.router.decide(request)

    async def complete(self, call: CompletionCall, deadline: float | None) -> tuple[bytes, Outcome]:
        """A whole completion: the client's JSON and its outcome."""
        if call.chat.stream:
            raise InvalidArgument("is true: call CompleteStream for a stream", field="stream")
        self.sink.admit()  # refused (UNAVAILABLE) while usage could not be recorded
        trace = Trace(started=self.clock())
        completion_id = new_id()
        decision: Decision | None = None
        key = self._cache_key(call)
        if key is not None and (entry := await self._cached(key)) is not None:
            return self._answer_from(entry, call, trace, completion_id)
        try:
            decision = self.router.decide(call.route)
            answer = await self.executor.complete(
                decision.candidates,
                call.chat,
                deadline,
                trace,
                completion_id,
                _check(decision, call),
                self._further(call),
            )
        except BaseException as exc:
            self._record(call, trace, decision, None, exc, stream=False)
            raise
        assert trace.served is not None  # set by every successful execution
        usage = answer.usage or self._estimate(decision, answer.chars)
        outcome = self._outcome(completion_id, trace, decision, usage)
        self._record(call, trace, decision, usage, None, stream=False)
        body = answer.body
        body["usage"] = usage.json()
        if key is not None and self.cache is not None:
            self.cache.put(key, Entry(trace.served.id, body["choices"], body["usage"]))
        body["freeway"] = outcome.block()
        return orjson.dumps(body), outcome

    async def stream(
        self, call: CompletionCall, deadline: float | None
    ) -> AsyncGenerator[StreamPart, None]:
        """The chunks of the first candidate whose stream commits (the first part carries
        who answers), then a last part with usage and cost (and OpenAI's usage chunk when
        the client asked for `stream_options.include_usage`)."""
        self.sink.admit()  # refused (UNAVAILABLE) while usage could not be recorded
        trace = Trace(started=self.clock())
        stream_id, created = new_id(), int(time.time())
        decision: Decision | None = None
        recorded = False
        key = self._cache_key(call)
        if key is not None and (entry := await self._cached(key)) is not None:
            for part in self._stream_from(entry, call, trace, stream_id, created):
                yield part
            return
        try:
            decision = self.router.decide(call.route)
            chunks = self.executor.stream(
                decision.candidates,
                call.chat,
                deadline,
                trace,
                stream_id,
                created,
                _check(decision, call),
                keep=key is not None,
                further=self._further(call),
            )
            async with contextlib.aclosing(chunks):
                first = True
                async for events in chunks:
                    if first:
                        first = False
                        yield StreamPart(events, self._outcome(stream_id, trace, decision, None))
                    elif events:
                        yield StreamPart(events)
            reader = trace.reader
            assert reader is not None  # set by every stream that started
            usage = reader.usage or self._estimate(decision, reader.chars)
            outcome = self._outcome(stream_id, trace, decision, usage)
            recorded = True
            self._record(call, trace, decision, usage, None, stream=True)
            if key is not None and self.cache is not None:
                choices = [
                    {"index": i, "message": message, "finish_reason": finish}
                    for i, (message, finish) in enumerate(reader.messages())
                ]
                self.cache.put(key, Entry(reader.model_id, choices, usage.json()))
            last = [reader.usage_chunk(usage, {"freeway": outcome.block()})]
            yield StreamPart(last if call.chat.include_usage else [], outcome)
        except BaseException as exc:
            if not recorded:
                usage = None
                if trace.reader is not None:  # cut short: what it produced still counts
                    usage = trace.reader.usage or self._estimate(decision, trace.reader.chars)
                self._record(call, trace, decision, usage, exc, stream=True)
            raise

    def _further(self, call: CompletionCall) -> Further | None:
        """More candidates once a decision's are used up: the router decides again without
        the ones already tried (none for a model asked for by name)."""
        route = call.route
        if route.model not in ("", "auto"):
            return None

        def more(tried: frozenset[str]) -> Sequence[ModelInfo]:
            again = dataclasses.replace(route, deny=(*route.deny, *sorted(tried)))
            try:  # twice the usual number: falling back, the executor spreads over them
                return self.router.decide(again, 2 * self.router.candidates).candidates
            except FreewayError:
                return ()  # nothing else fits: the failures already tried say why

        return more

    def _cache_key(self, call: CompletionCall) -> str | None:
        """The request's cache key, or None when the cache may not answer it."""
        if self.cache is None or not cacheable(call.chat, call.cache):
            return None
        route = call.route
        routing = (
            route.strategy,
            route.capabilities,
            route.min_context,
            sorted(route.allow),
            sorted(route.deny),
            route.max_price,
            route.free_only,
            call.chat.n,
        )
        namespace = f"team:{call.team_id}" if call.team_id else f"key:{call.key_id}"
        return cache_key(namespace, call.chat, routing, self.cache.prefix)

    async def _cached(self, key: str) -> Entry | None:
        assert self.cache is not None
        return await self.cache.get(key)

    def _hit(self, entry: Entry, call: CompletionCall, trace: Trace, outcome_id: str) -> Outcome:
        """Account for an answer from the cache: nothing paid, the baseline saved."""
        model = self.router.model(entry.model) or ModelInfo(
            id=entry.model, provider=entry.model.partition("/")[0], upstream_id=""
        )
        trace.served = model
        trace.first_token = self.clock()
        usage = usage_of({"usage": entry.usage}) or Usage()
        saved = self.baseline.cost(usage.prompt_tokens, usage.completion_tokens)
        outcome = Outcome(outcome_id, model, None, 0, usage, 0.0, saved, cache_hit=True)
        self._record(call, trace, None, usage, None, stream=bool(call.chat.stream), cache_hit=True)
        return outcome

    def _answer_from(
        self, entry: Entry, call: CompletionCall, trace: Trace, completion_id: str
    ) -> tuple[bytes, Outcome]:
        outcome = self._hit(entry, call, trace, completion_id)
        body = {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": entry.model,
            "choices": [{**c, "logprobs": None} for c in entry.choices],
            "usage": entry.usage,
            "freeway": outcome.block(),
        }
        return orjson.dumps(body), outcome

    def _stream_from(
        self, entry: Entry, call: CompletionCall, trace: Trace, stream_id: str, created: int
    ) -> list[StreamPart]:
        """A cached answer replayed as a stream: a chunk per choice, then the usage chunk."""
        outcome = self._hit(entry, call, trace, stream_id)
        reader = StreamReader(entry.model, stream_id, created, len(entry.choices))
        whole = orjson.dumps({"choices": entry.choices, "usage": entry.usage})
        events = reader.feed_answer(whole)
        assert outcome.usage is not None
        last = [reader.usage_chunk(outcome.usage, {"freeway": outcome.block()})]
        return [
            StreamPart(events, outcome),
            StreamPart(last if call.chat.include_usage else [], outcome),
        ]

    def _estimate(self, decision: Decision | None, chars: int) -> Usage:
        prompt = decision.prompt_tokens if decision else 0
        return Usage(prompt, estimate_tokens(chars), stated=False)

    def _outcome(
        self, outcome_id: str, trace: Trace, decision: Decision | None, usage: Usage | None
    ) -> Outcome:
        cost = saved = None
        if usage is not None and trace.served is not None:
            cost = model_cost(trace.served, usage.prompt_tokens, usage.completion_tokens)
            if cost is not None:
                baseline = self.baseline.cost(usage.prompt_tokens, usage.completion_tokens)
                saved = baseline - cost
        return Outcome(outcome_id, trace.served, decision, trace.attempts, usage, cost, saved)

    def _features(self, call: CompletionCall, decision: Decision | None) -> bytes:
        """The prompt's stored model inputs, when the operator opted in (never its text)."""
        if not self.keep_features or decision is None:
            return b""
        return self.router.stored_features(call.route, decision.needs)

    def _record(
        self,
        call: CompletionCall,
        trace: Trace,
        decision: Decision | None,
        usage: Usage | None,
        failure: BaseException | None,
        *,
        stream: bool,
        cache_hit: bool = False,
    ) -> None:
        """Hand the request's usage record to the sink (exactly once per request)."""
        status, error = _status(failure)
        served = trace.served
        prompt = usage.prompt_tokens if usage and served else 0
        completion = usage.completion_tokens if usage and served else 0
        if served is not None and self.quota is not None:
            self.quota.record(served, prompt, completion)
        cost = model_cost(served, prompt, completion) if served and not cache_hit else 0.0
        baseline = self.baseline.cost(prompt, completion)
        now = self.clock()
        self.sink.submit(
            UsageRecord(
                event_id=uuid7(),
                time=time.time(),
                key_id=call.key_id,
                request_id=call.request_id,
                requested_model=call.route.model or "auto",
                served_model=served.id if served else "",
                provider=served.provider if served else "",
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=cost,
                baseline_cost_usd=baseline,
                latency_ms=(now - trace.started) * 1000,
                ttft_ms=(trace.first_token - trace.started) * 1000 if trace.first_token else 0.0,
                attempts=trace.attempts,
                status=status,
                complexity=decision.complexity if decision else 0.0,
                strategy=decision.strategy if decision else call.route.strategy,
                error=error,
                stream=stream,
                team_id=call.team_id,
                cached_tokens=usage.cached_tokens if usage and served else 0,
                reasoning_tokens=usage.reasoning_tokens if usage and served else 0,
                capabilities=call.chat.needs,
                escalations=len([r for r in trace.escalations if r != "none better"]),
                escalation_reason=",".join(trace.escalations),
                cache_hit=cache_hit,
                features=self._features(call, decision),
            )
        )


def _check(decision: Decision, call: CompletionCall) -> Check | None:
    """The cascade's check of each answer; None for the other strategies."""
    if decision.strategy != strategies.CASCADE or len(decision.candidates) < 2:
        return None
    chat = call.chat
    tools = chat.body.get("tools")
    return answer_check(bool(chat.needs & JSON_OBJECT), chat.json_schema, tools)


def _status(failure: BaseException | None) -> tuple[Status, str]:
    if failure is None:
        return Status.OK, ""
    if isinstance(failure, asyncio.CancelledError | GeneratorExit):
        return Status.CANCELLED, "cancelled by the caller"
    if isinstance(failure, FreewayError):
        return Status.ERROR, f"{failure.status}: {failure}"
    return Status.ERROR, f"internal error: {type(failure).__name__}"
