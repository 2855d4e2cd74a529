"""Fallback execution against a scripted in-memory upstream (one behaviour per model)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest

from services.router.breaker import OPEN, BreakerPolicy, HealthBoard
from services.router.catalogue import ModelInfo
from services.router.chat import ChatParams, Choice, Completion, Delta, Message, StreamEvent
from services.router.execution import ExecutionPolicy, Executor, Trace
from services.router.failures import Kind, UpstreamFailure
from services.shared.errors import (
    DeadlineExceeded,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)

PARAMS = ChatParams(messages=(Message("user", "hi"),))
NOW = 1000.0


def model(name: str) -> ModelInfo:
    return ModelInfo(id=f"p/{name}", provider="p", upstream_id=name, is_free=True)


FAILURES = {
    "limited": UpstreamFailure(Kind.RATE_LIMITED, "slow down", status=429, retry_after=42.0),
    "broken": UpstreamFailure(Kind.SERVER, "boom", status=500),
    "garbage": UpstreamFailure(Kind.MALFORMED, "not json"),
    "slow": UpstreamFailure(Kind.TIMEOUT, "no reply"),
    "reject": UpstreamFailure(Kind.REJECTED, "messages: too long", status=400),
}


class Scripted:
    """An Upstream whose behaviour is the model's upstream id."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.closed: list[str] = []

    async def complete(self, model: ModelInfo, params: ChatParams, timeout: float) -> Completion:
        self.calls.append(model.upstream_id)
        if model.upstream_id in FAILURES:
            raise FAILURES[model.upstream_id]
        return Completion("c1", 1, (Choice(0, "assistant", f"from {model.id}", "stop"),), 3, 4)

    async def stream(
        self, model: ModelInfo, params: ChatParams, timeout: float
    ) -> AsyncGenerator[StreamEvent, None]:
        self.calls.append(model.upstream_id)
        try:
            if model.upstream_id in FAILURES:
                raise FAILURES[model.upstream_id]
            if model.upstream_id == "empty":
                return
            yield StreamEvent("s1", 1, (Delta(0, "assistant", "he", ""),))
            if model.upstream_id == "cut":
                raise UpstreamFailure(Kind.CONNECT, "stream broke")
            yield StreamEvent("s1", 1, (Delta(0, "", "llo", "stop"),), 5, 2)
        finally:
            self.closed.append(model.upstream_id)


async def collect(events: AsyncGenerator[StreamEvent, None], into: list[StreamEvent]) -> None:
    async for event in events:
        into.append(event)


def executor(upstream: Scripted, failures: int = 3) -> tuple[Executor, HealthBoard]:
    """An executor and its board on a clock that stands still (holds and cooldowns exact)."""
    board = HealthBoard(BreakerPolicy(failures=failures, cooldown_s=30.0), still)
    return Executor(upstream, board, ExecutionPolicy(attempt_timeout_s=5.0), still), board


def still() -> float:
    return NOW


def candidates(*names: str) -> list[ModelInfo]:
    return [model(n) for n in names]


async def test_falls_back_in_order_until_one_answers() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    trace = Trace(started=0.0)
    completion = await run.complete(
        candidates("limited", "broken", "garbage", "ok"), PARAMS, None, trace
    )
    assert completion.text == "from p/ok"
    assert upstream.calls == ["limited", "broken", "garbage", "ok"]
    assert trace.attempts == 4
    assert trace.served is not None
    assert trace.served.id == "p/ok"
    assert [model_id for model_id, _ in trace.failures] == ["p/limited", "p/broken", "p/garbage"]
    assert board.state("p/limited") == OPEN  # held for its Retry-After
    assert board.retry_in("p/limited") == 42.0


async def test_held_and_open_models_are_skipped() -> None:
    upstream = Scripted()
    run, board = executor(upstream, failures=1)
    await run.complete(candidates("broken", "ok"), PARAMS, None, Trace(started=0.0))
    assert board.state("p/broken") == OPEN
    upstream.calls.clear()
    trace = Trace(started=0.0)
    await run.complete(candidates("broken", "ok"), PARAMS, None, trace)
    assert upstream.calls == ["ok"]
    assert trace.skipped == ["p/broken"]


async def test_a_rejected_request_is_not_retried_elsewhere() -> None:
    upstream = Scripted()
    run, _ = executor(upstream)
    with pytest.raises(InvalidArgument, match="p/reject rejected the request: messages: too long"):
        await run.complete(candidates("reject", "ok"), PARAMS, None, Trace(started=0.0))
    assert upstream.calls == ["reject"]


async def test_all_rate_limited_is_resource_exhausted_otherwise_unavailable() -> None:
    run, _ = executor(Scripted())
    with pytest.raises(ResourceExhausted, match="rate-limited"):
        await run.complete(candidates("limited"), PARAMS, None, Trace(started=0.0))
    with pytest.raises(
        Unavailable, match=r"all 2 attempts failed: p/broken: HTTP 500 server error"
    ):
        await run.complete(candidates("broken", "slow"), PARAMS, None, Trace(started=0.0))


async def test_passed_deadline_is_deadline_exceeded() -> None:
    run, _ = executor(Scripted())
    with pytest.raises(DeadlineExceeded):
        await run.complete(candidates("ok"), PARAMS, deadline=NOW, trace=Trace(started=0.0))


async def test_stream_falls_back_before_the_first_event() -> None:
    upstream = Scripted()
    run, _ = executor(upstream)
    trace = Trace(started=0.0)
    events = [e async for e in run.stream(candidates("broken", "empty", "ok"), PARAMS, None, trace)]
    assert upstream.calls == ["broken", "empty", "ok"]
    assert "".join(d.content for e in events for d in e.deltas) == "hello"
    assert events[-1].completion_tokens == 2
    assert trace.attempts == 3
    assert trace.first_token is not None
    assert upstream.closed == ["broken", "empty", "ok"]


async def test_stream_failure_after_the_first_event_ends_the_request() -> None:
    upstream = Scripted()
    run, _ = executor(upstream)
    trace = Trace(started=0.0)
    received: list[StreamEvent] = []
    events = run.stream(candidates("cut", "ok"), PARAMS, None, trace)
    with pytest.raises(Unavailable, match="p/cut failed mid-stream"):
        await collect(events, received)
    assert len(received) == 1
    assert upstream.calls == ["cut"]
    assert trace.served is not None
    assert trace.served.id == "p/cut"


async def test_closing_the_stream_early_closes_the_upstream() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    events = run.stream(candidates("ok"), PARAMS, None, Trace(started=0.0))
    await anext(events)
    await events.aclose()
    assert upstream.closed == ["ok"]
    assert board.inflight == {}
