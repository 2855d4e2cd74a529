"""Fallback execution against a scripted in-memory upstream (one behaviour per model)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import orjson
import pytest

from services.router.breaker import HALF_OPEN, OPEN, BreakerPolicy, HealthBoard
from services.router.catalogue import ModelInfo
from services.router.checks import answer_check
from services.router.execution import ExecutionPolicy, Executor, Trace
from services.router.failures import Kind, UpstreamFailure, from_status
from services.router.request import read_body
from services.router.upstream import StreamItem
from services.shared.errors import (
    DeadlineExceeded,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)

CHAT = read_body({"messages": [{"role": "user", "content": "hi"}]})
NOW = 1000.0


def model(name: str) -> ModelInfo:
    return ModelInfo(id=f"p/{name}", provider="p", upstream_id=name, is_free=True)


FAILURES = {
    "limited": UpstreamFailure(Kind.RATE_LIMITED, "slow down", status=429, retry_after=42.0),
    "broken": UpstreamFailure(Kind.SERVER, "boom", status=500),
    "garbage": UpstreamFailure(Kind.MALFORMED, "not json"),
    "slow": UpstreamFailure(Kind.TIMEOUT, "no reply"),
    "gone": from_status(400, '{"error":{"message":"The model has been decommissioned"}}', None, 0),
    "unsuitable": from_status(400, '{"error":{"message":"seed is not supported"}}', None, 0),
    "too-long": from_status(
        400, '{"error":{"message":"maximum context length exceeded"}}', None, 0
    ),
    "reject": from_status(400, '{"error":{"message":"Failed to download image"}}', None, 0),
}


ANSWERS = {
    "blank": "",
    "sorry": "I'm sorry, I can't help with that.",
    "prose": "hello",
    "json": '{"x": 1}',
}
CHECK = answer_check(True, None, None)  # JSON mode


def completion(text: str) -> bytes:
    return orjson.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        }
    )


def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> bytes:
    return orjson.dumps(
        {"id": "s", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    )


class Scripted:
    """An Upstream whose behaviour is the model's upstream id."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.closed: list[str] = []
        self.release = asyncio.Event()  # lets "hang" answer

    async def complete(self, model: ModelInfo, chat: object, timeout: float) -> bytes:
        self.calls.append(model.upstream_id)
        try:
            if model.upstream_id in FAILURES:
                raise FAILURES[model.upstream_id]
            if model.upstream_id == "hang":
                await self.release.wait()
            if model.upstream_id == "junk":
                return b'{"choices": []}'
            if model.upstream_id == "error200":
                return b'{"error": {"message": "Provider returned error"}}'
            if model.upstream_id in ANSWERS:
                return completion(ANSWERS[model.upstream_id])
            return completion(f"from {model.id}")
        finally:
            self.closed.append(model.upstream_id)

    async def stream(
        self, model: ModelInfo, chat: object, timeout: float
    ) -> AsyncGenerator[StreamItem, None]:
        name = model.upstream_id
        self.calls.append(name)
        try:
            if name in FAILURES:
                raise FAILURES[name]
            if name == "hang":
                await self.release.wait()
            if name == "empty":
                return
            if name in ANSWERS:
                yield [
                    chunk({"content": ANSWERS[name]})
                    if ANSWERS[name]
                    else chunk({"role": "assistant"})
                ]
                yield [chunk({}, "stop")]
                return
            if name == "whole":  # ignored stream: true, answered JSON
                yield completion("whole answer")
                return
            yield [chunk({"role": "assistant", "content": ""})]  # no content yet
            if name == "early":  # breaks before any content
                raise UpstreamFailure(Kind.CONNECT, "stream broke")
            if name == "error-first":
                yield [b'{"error": {"code": 400, "message": "Provider returned error"}}']
            yield [chunk({"content": "he"})]
            if name == "cut":
                raise UpstreamFailure(Kind.CONNECT, "stream broke")
            if name == "truncated":  # ends cleanly mid-answer: no finish reason, no [DONE]
                return
            if name == "error-later":
                yield [b'{"error": {"message": "Context size has been exceeded."}}']
            yield [chunk({"content": "llo"}), chunk({}, "stop", usage={"prompt_tokens": 5})]
            yield [b"[DONE]"]
        finally:
            self.closed.append(name)


def executor(
    upstream: Scripted, failures: int = 3, hedge_s: float = 30.0
) -> tuple[Executor, HealthBoard]:
    """An executor and its board on a clock that stands still (holds and cooldowns exact)."""
    board = HealthBoard(BreakerPolicy(failures=failures, cooldown_s=30.0), still)
    policy = ExecutionPolicy(attempt_timeout_s=5.0, hedge_floor_s=hedge_s, hedge_cold_s=hedge_s)
    return Executor(upstream, board, policy, still), board


def still() -> float:
    return NOW


def candidates(*names: str) -> list[ModelInfo]:
    return [model(n) for n in names]


def text_of(events: list[bytes]) -> str:
    out = []
    for raw in events:
        for choice in orjson.loads(raw)["choices"]:
            out.append(choice["delta"].get("content") or "")
    return "".join(out)


async def collect_into(parts: AsyncGenerator[list[bytes], None], into: list[bytes]) -> None:
    async for part in parts:
        into += part


async def stream_all(run: Executor, names: list[str], trace: Trace) -> list[bytes]:
    received: list[bytes] = []
    async for part in run.stream(candidates(*names), CHAT, None, trace, "sid", 1):
        received += part
    return received


async def test_falls_back_in_order_until_one_answers() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    trace = Trace(started=0.0)
    answer = await run.complete(
        candidates("limited", "broken", "garbage", "junk", "error200", "ok"),
        CHAT,
        None,
        trace,
        "c1",
    )
    assert answer.body["choices"][0]["message"]["content"] == "from p/ok"
    assert answer.body["model"] == "p/ok"
    assert answer.body["id"] == "c1"
    assert upstream.calls == ["limited", "broken", "garbage", "junk", "error200", "ok"]
    assert trace.attempts == 6
    assert trace.served is not None
    assert trace.served.id == "p/ok"
    failed = [model_id for model_id, _ in trace.failures]
    assert failed == ["p/limited", "p/broken", "p/garbage", "p/junk", "p/error200"]
    assert board.state("p/limited") == OPEN  # held for its Retry-After
    assert board.retry_in("p/limited") == 42.0


async def test_held_and_open_models_are_skipped() -> None:
    upstream = Scripted()
    run, board = executor(upstream, failures=1)
    await run.complete(candidates("broken", "ok"), CHAT, None, Trace(started=0.0), "c")
    assert board.state("p/broken") == OPEN
    upstream.calls.clear()
    trace = Trace(started=0.0)
    await run.complete(candidates("broken", "ok"), CHAT, None, trace, "c")
    assert upstream.calls == ["ok"]
    assert trace.skipped == ["p/broken"]


async def test_a_request_fault_goes_back_at_once_but_a_model_refusal_moves_on() -> None:
    upstream = Scripted()
    run, board = executor(upstream, failures=1)
    with pytest.raises(InvalidArgument, match="p/reject rejected the request: Failed to download"):
        await run.complete(candidates("reject", "ok"), CHAT, None, Trace(started=0.0), "c")
    assert upstream.calls == ["reject"]
    upstream.calls.clear()
    answer = await run.complete(
        candidates("gone", "unsuitable", "ok"), CHAT, None, Trace(started=0.0), "c"
    )
    assert answer.body["model"] == "p/ok"
    assert upstream.calls == ["gone", "unsuitable", "ok"]
    assert board.state("p/gone") == OPEN  # a decommissioned model counts against its health
    assert board.state("p/unsuitable") != OPEN  # one that lacks a parameter does not


async def test_every_candidate_refusing_the_request_is_the_callers_400() -> None:
    run, _ = executor(Scripted())
    with pytest.raises(InvalidArgument, match="every candidate rejected the request") as caught:
        await run.complete(
            candidates("unsuitable", "too-long"), CHAT, None, Trace(started=0.0), "c"
        )
    assert caught.value.code == "invalid_request"


async def test_all_rate_limited_is_resource_exhausted_with_retry_after() -> None:
    run, _ = executor(Scripted())
    with pytest.raises(ResourceExhausted, match="rate-limited") as caught:
        await run.complete(candidates("limited"), CHAT, None, Trace(started=0.0), "c")
    assert caught.value.retry_after_s == 42.0
    with pytest.raises(
        Unavailable, match=r"all 2 attempts failed: p/broken: HTTP 500 server error"
    ):
        await run.complete(candidates("broken", "slow"), CHAT, None, Trace(started=0.0), "c")


async def test_all_cooling_down_says_when_to_retry() -> None:
    upstream = Scripted()
    run, _ = executor(upstream, failures=1)
    await run.complete(candidates("broken", "limited", "ok"), CHAT, None, Trace(started=0.0), "c")
    with pytest.raises(Unavailable, match="cooling down") as caught:
        await run.complete(candidates("broken", "limited"), CHAT, None, Trace(started=0.0), "c")
    assert caught.value.retry_after_s == 30.0  # the breaker's cooldown, the sooner of the two


async def test_passed_deadline_is_deadline_exceeded() -> None:
    run, _ = executor(Scripted())
    with pytest.raises(DeadlineExceeded):
        await run.complete(candidates("ok"), CHAT, NOW, Trace(started=0.0), "c")


async def test_a_slow_attempt_is_hedged_and_the_first_answer_wins() -> None:
    upstream = Scripted()
    run, board = executor(upstream, hedge_s=0.01)
    trace = Trace(started=0.0)
    answer = await run.complete(candidates("hang", "ok"), CHAT, None, trace, "c")
    assert answer.body["model"] == "p/ok"
    assert trace.hedged == 1
    assert trace.failures == []  # the slow one did not fail: it lost, and was cancelled
    await asyncio.sleep(0)
    assert "hang" in upstream.closed
    assert board.inflight == {}


async def test_a_slow_attempt_that_answers_first_still_wins() -> None:
    upstream = Scripted()
    run, _ = executor(upstream, hedge_s=0.01)
    upstream.release.set()
    answer = await run.complete(candidates("hang", "ok"), CHAT, None, Trace(started=0.0), "c")
    assert answer.body["model"] == "p/hang"


async def test_a_half_open_model_takes_one_probe_at_a_time() -> None:
    upstream = Scripted()
    run, board = executor(upstream, failures=1, hedge_s=30.0)
    board.failed("p/hang")
    board._breakers["p/hang"].opened_until = NOW  # cooldown over: half-open
    assert board.state("p/hang") == HALF_OPEN
    first = asyncio.ensure_future(
        run.complete(candidates("hang", "ok"), CHAT, None, Trace(started=0.0), "c")
    )
    await asyncio.sleep(0.01)
    trace = Trace(started=0.0)
    answer = await run.complete(candidates("hang", "ok"), CHAT, None, trace, "c")
    assert answer.body["model"] == "p/ok"
    assert trace.skipped == ["p/hang"]  # the first request holds the probe
    upstream.release.set()
    assert (await first).body["model"] == "p/hang"


async def test_stream_falls_back_before_the_first_content() -> None:
    upstream = Scripted()
    run, _ = executor(upstream)
    trace = Trace(started=0.0)
    names = ["broken", "empty", "early", "error-first", "ok"]
    events = await stream_all(run, names, trace)
    assert upstream.calls == names
    assert text_of(events) == "hello"
    first = orjson.loads(events[0])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "he"}
    assert first["model"] == "p/ok"
    assert first["id"] == "sid"
    assert orjson.loads(events[-1])["choices"][0]["finish_reason"] == "stop"
    assert trace.attempts == 5
    assert trace.reader is not None
    assert trace.reader.usage is not None
    assert trace.reader.usage.prompt_tokens == 5
    assert sorted(upstream.closed) == sorted(names)


@pytest.mark.parametrize("name", ["cut", "truncated", "error-later"])
async def test_a_stream_broken_after_its_first_content_is_an_error_never_a_short_answer(
    name: str,
) -> None:
    upstream = Scripted()
    run, _ = executor(upstream)
    trace = Trace(started=0.0)
    received: list[bytes] = []
    parts = run.stream(candidates(name, "ok"), CHAT, None, trace, "sid", 1)
    with pytest.raises(Unavailable, match=f"p/{name} failed mid-stream") as caught:
        await collect_into(parts, received)
    assert caught.value.code == "stream_interrupted"
    assert text_of(received) == "he"
    assert upstream.calls == [name]
    assert trace.served is not None
    assert trace.served.id == f"p/{name}"


async def test_a_stream_answered_as_one_json_body_is_one_chunk() -> None:
    run, _ = executor(Scripted())
    events = await stream_all(run, ["whole"], Trace(started=0.0))
    assert len(events) == 1
    choice = orjson.loads(events[0])["choices"][0]
    assert choice["delta"]["content"] == "whole answer"
    assert choice["finish_reason"] == "stop"


async def test_a_slow_stream_is_hedged_before_its_first_content() -> None:
    upstream = Scripted()
    run, _ = executor(upstream, hedge_s=0.01)
    trace = Trace(started=0.0)
    events = await stream_all(run, ["hang", "ok"], trace)
    assert text_of(events) == "hello"
    assert trace.served is not None
    assert trace.served.id == "p/ok"
    await asyncio.sleep(0)
    assert "hang" in upstream.closed


async def test_closing_the_stream_early_closes_the_upstream() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    events = run.stream(candidates("ok"), CHAT, None, Trace(started=0.0), "sid", 1)
    await anext(events)
    await events.aclose()
    assert upstream.closed == ["ok"]
    assert board.inflight == {}


async def test_cascade_escalates_past_answers_that_fail_their_check() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    trace = Trace(started=0.0)
    answer = await run.complete(
        candidates("blank", "sorry", "prose", "json"), CHAT, None, trace, "c", CHECK
    )
    assert answer.body["choices"][0]["message"]["content"] == '{"x": 1}'
    assert trace.escalations == ["empty", "refusal", "invalid_json"]
    assert upstream.calls == ["blank", "sorry", "prose", "json"]
    assert board.inflight == {}
    assert board.state("p/blank") != OPEN  # a poor answer is not an unhealthy model


async def test_cascade_returns_the_strongest_answer_when_none_passes() -> None:
    run, board = executor(Scripted())
    trace = Trace(started=0.0)
    answer = await run.complete(candidates("blank", "prose"), CHAT, None, trace, "c", CHECK)
    assert answer.body["choices"][0]["message"]["content"] == "hello"
    assert trace.escalations == ["empty", "invalid_json", "none better"]
    assert board.inflight == {}


async def test_a_cascade_stream_is_checked_whole_before_its_first_chunk() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    trace = Trace(started=0.0)
    received: list[bytes] = []
    async for part in run.stream(candidates("prose", "json"), CHAT, None, trace, "sid", 1, CHECK):
        received += part
    assert text_of(received) == '{"x": 1}'  # nothing of the prose answer reached the client
    assert trace.escalations == ["invalid_json"]
    assert board.inflight == {}


async def test_when_the_candidates_fail_further_ones_are_asked_for() -> None:
    upstream = Scripted()
    run, _ = executor(upstream)
    asked: list[frozenset[str]] = []

    def further(tried: frozenset[str]) -> list[ModelInfo]:
        asked.append(tried)
        return candidates("garbage", "ok") if len(asked) == 1 else []

    trace = Trace(started=0.0)
    answer = await run.complete(
        candidates("broken", "limited"), CHAT, None, trace, "c", further=further
    )
    assert answer.body["model"] == "p/ok"
    assert upstream.calls == ["broken", "limited", "garbage", "ok"]
    assert asked == [frozenset({"p/broken", "p/limited"})]


async def test_further_candidates_stop_at_the_attempts_allowed() -> None:
    upstream = Scripted()
    board = HealthBoard(BreakerPolicy(failures=99), still)
    run = Executor(upstream, board, ExecutionPolicy(max_attempts=3), still)
    names = iter(["broken"] * 10)

    def further(tried: frozenset[str]) -> list[ModelInfo]:
        return [ModelInfo(id=f"p/x{len(tried)}", provider="p", upstream_id=next(names))]

    with pytest.raises(Unavailable, match="all 3 attempts failed"):
        await run.complete(
            candidates("broken"), CHAT, None, Trace(started=0.0), "c", further=further
        )


async def test_a_model_that_lost_for_slowness_is_tried_after_the_others() -> None:
    upstream = Scripted()
    run, board = executor(upstream, failures=2, hedge_s=0.01)
    answer = await run.complete(candidates("hang", "ok"), CHAT, None, Trace(started=0.0), "c")
    assert answer.body["model"] == "p/ok"
    assert board.suspect("p/hang")  # it failed lately: the next request tries it last
    upstream.calls.clear()
    answer = await run.complete(candidates("hang", "ok"), CHAT, None, Trace(started=0.0), "c")
    assert (answer.body["model"], upstream.calls) == ("p/ok", ["ok"])
    board.failed("p/hang")
    assert board.state("p/hang") == OPEN  # and its breaker opens as any other's


async def test_a_model_that_failed_lately_goes_last_and_is_tried_if_all_else_fails() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    board.failed("p/ok")  # one failure: suspect, breaker still closed
    trace = Trace(started=0.0)
    answer = await run.complete(candidates("ok", "broken"), CHAT, None, trace, "c")
    assert upstream.calls == ["broken", "ok"]
    assert answer.body["model"] == "p/ok"


async def test_falling_back_prefers_models_no_other_request_is_trying() -> None:
    upstream = Scripted()
    run, board = executor(upstream)
    board.started("p/ok")  # another request is trying it right now
    answer = await run.complete(candidates("broken", "ok", "json"), CHAT, None, Trace(0.0), "c")
    assert upstream.calls == ["broken", "json"]
    assert answer.body["model"] == "p/json"
    board.started("p/json")
    upstream.calls.clear()
    answer = await run.complete(candidates("broken", "ok", "json"), CHAT, None, Trace(0.0), "c")
    assert upstream.calls == ["ok"]  # all busy: taken in order after all (broken: suspect)
