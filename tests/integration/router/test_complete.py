"""Complete and CompleteStream over real gRPC against a scripted OpenAI-compatible upstream:
fallback order, Retry-After, breakers, provider errors, streaming, cancellation, usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from freeway.analytics.v1 import analytics_pb2
from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2
from services.shared.errors import FIELD_TRAILER
from tests.integration.router.conftest import Harness, answer, events, request, streamed_text

OK = analytics_pb2.USAGE_STATUS_OK
ERROR = analytics_pb2.USAGE_STATUS_ERROR
CANCELLED = analytics_pb2.USAGE_STATUS_CANCELLED


async def collect(
    call: AsyncIterator[router_pb2.CompletionChunk], into: list[router_pb2.CompletionChunk]
) -> None:
    async for chunk in call:
        into.append(chunk)


def trailer(exc: grpc.aio.AioRpcError, key: str) -> str:
    for name, value in exc.trailing_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


async def test_complete_answers_and_reports_usage(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/ok", request_id="r-ok", max_tokens=50))
    body = answer(response)
    assert body["model"] == "t/ok"
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "hello from ok"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert body["freeway"]["provider"] == "t"
    assert body["freeway"]["cost_usd"] == 0.0
    outcome = response.outcome
    assert (outcome.model, outcome.provider, outcome.attempts, outcome.id) == (
        "t/ok", "t", 1, body["id"]
    )  # fmt: skip
    assert (outcome.usage.prompt_tokens, outcome.usage.completion_tokens) == (11, 7)
    assert outcome.cost_usd == 0.0
    assert outcome.saved_usd == pytest.approx((11 * 0.15 + 7 * 0.60) / 1e6)
    sent = harness.upstream.bodies[-1]
    assert sent["model"] == "ok"  # the upstream id, not the catalogue id
    assert sent["max_tokens"] == 50
    assert harness.upstream.auth[-1] == "Bearer sk-test-key"
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-ok")
    assert len(event.event_id) == 36
    assert event.time.seconds > 0
    assert (event.key_id, event.requested_model, event.served_model) == ("key-1", "auto", "t/ok")
    assert (event.provider, event.prompt_tokens, event.completion_tokens) == ("t", 11, 7)
    assert event.cost_usd == 0.0
    assert event.baseline_cost_usd == pytest.approx((11 * 0.15 + 7 * 0.60) / 1e6)
    assert (event.attempts, event.status, event.stream) == (1, OK, False)
    assert event.latency_ms > 0
    assert event.ttft_ms > 0
    assert event.strategy == common_pb2.STRATEGY_FREE_FIRST
    assert event.complexity == pytest.approx(outcome.complexity)


async def test_the_body_goes_to_the_provider_exactly(harness: Harness) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    await harness.stub.Complete(
        request("t/tools", temperature=0.3, stop=["END"], tools=tools, tool_choice="auto")
    )
    sent = harness.upstream.bodies[-1]
    assert sent == {
        "model": "tools",
        "messages": [{"role": "user", "content": "Say hello."}],
        "temperature": 0.3,
        "stop": ["END"],
        "tools": tools,
        "tool_choice": "auto",
        "stream": False,
    }


async def test_fallbacks_in_order_and_retry_after_is_honoured(harness: Harness) -> None:
    allow = ("t/limited", "t/broken", "t/garbage", "t/ok")
    response = await harness.stub.Complete(request(*allow, request_id="r-1"))
    assert response.outcome.model == "t/ok"
    assert response.outcome.attempts == 4
    assert harness.upstream.calls == ["limited", "broken", "garbage", "ok"]
    # the 429 said "Retry-After: 60": the next request does not even try that model
    decision = await harness.stub.Route(request(*allow))
    assert "t/limited" not in [decision.chosen.model_id, *(c.model_id for c in decision.fallbacks)]
    await harness.stub.Complete(request(*allow, request_id="r-2"))
    assert harness.upstream.count("limited") == 1
    await harness.analytics.wait_for(2)
    first = harness.analytics.by_request("r-1")
    assert (first.served_model, first.attempts, first.status) == ("t/ok", 4, OK)


async def test_every_candidate_rate_limited_says_when_to_retry(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request("t/limited"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailer(caught.value, "retry-after") == "60"
    assert trailer(caught.value, "freeway-code") == "rate_limit_exceeded"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Route(request("t/limited"))  # held: not even tried
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert int(trailer(caught.value, "retry-after")) >= 58


async def test_a_failing_model_is_tried_last_and_its_breaker_opens(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/broken", "t/ok"))
    assert response.outcome.model == "t/ok"
    for _ in range(3):  # failed lately: every request tries the others first
        response = await harness.stub.Complete(request("t/broken", "t/ok"))
        assert (response.outcome.model, response.outcome.attempts) == ("t/ok", 1)
    assert harness.upstream.count("broken") == 1
    for _ in range(2):  # only it: tried (and failing) until its breaker opens
        with pytest.raises(grpc.aio.AioRpcError):
            await harness.stub.Complete(request("t/broken"))
    assert harness.upstream.count("broken") == 3
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Route(request("t/broken"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "healthy (breaker closed, not rate-limited): 0 (retry in" in (
        caught.value.details() or ""
    )
    assert trailer(caught.value, "retry-after")


async def test_a_slow_model_is_hedged_by_the_next(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/slow", "t/ok"))
    assert (response.outcome.model, response.outcome.attempts) == ("t/ok", 2)
    assert harness.upstream.calls == ["slow", "ok"]


async def test_a_model_refusing_the_request_moves_on(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/reject", "t/ok", request_id="r-bad"))
    assert response.outcome.model == "t/ok"
    assert harness.upstream.calls == ["reject", "ok"]


async def test_every_candidate_refusing_is_invalid_argument_with_their_message(
    harness: Harness,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request("t/reject", request_id="r-bad"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[0].content is too long" in (caught.value.details() or "")
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-bad")
    assert (event.status, event.served_model, event.attempts) == (ERROR, "", 1)
    assert event.error.startswith("INVALID_ARGUMENT:")


async def test_every_candidate_failing_is_unavailable(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request("t/broken", "t/garbage"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    details = caught.value.details() or ""
    assert details.startswith("all 2 attempts failed: t/broken: HTTP 500 server error: internal")
    assert "t/garbage: malformed reply" in details


async def test_explicit_unknown_model_is_not_found_and_still_recorded(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request(model="t/missing", request_id="r-missing"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert trailer(caught.value, FIELD_TRAILER) == "model"
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-missing")
    assert (event.requested_model, event.status, event.attempts) == ("t/missing", ERROR, 0)


async def test_a_paid_model_pinned_while_paid_models_are_off_is_refused(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request(model="t/paid"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert trailer(caught.value, "freeway-code") == "model_not_allowed"
    assert harness.upstream.calls == []


async def test_an_invalid_body_is_invalid_argument_naming_the_field(harness: Harness) -> None:
    bad = router_pb2.CompletionRequest(body='{"messages": [{"role": "user", "content": 5}]}')
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(bad)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailer(caught.value, FIELD_TRAILER) == "messages[0].content"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request("t/ok", stream=True))
    assert trailer(caught.value, FIELD_TRAILER) == "stream"


async def test_missing_usage_is_estimated(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/nousage"))
    usage = answer(response)["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] == len("hello from nousage") // 4 + 1
    assert response.outcome.usage.estimated
    assert answer(response)["freeway"]["usage_estimated"] is True


async def test_stream_chunks_then_usage_on_the_last(harness: Harness) -> None:
    chunks = [
        c
        async for c in harness.stub.CompleteStream(
            request("t/ok", request_id="r-s", stream=True, stream_options={"include_usage": True})
        )
    ]
    assert harness.upstream.bodies[-1]["stream_options"] == {"include_usage": True}
    assert streamed_text(chunks) == "Hello"
    sent = events(chunks)
    assert sent[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    assert all(e["model"] == "t/ok" and e["id"] == sent[0]["id"] for e in sent)
    assert [e["choices"][0]["finish_reason"] for e in sent[:-1]] == [None, None, "stop"]
    assert sent[-1]["choices"] == []
    assert sent[-1]["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert sent[-1]["freeway"]["provider"] == "t"
    assert chunks[0].outcome.model == "t/ok"  # who answers, on the first message
    assert not chunks[0].outcome.HasField("usage")
    assert chunks[-1].outcome.usage.completion_tokens == 7
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-s")
    assert (event.stream, event.status, event.completion_tokens) == (True, OK, 7)
    assert 0 < event.ttft_ms <= event.latency_ms


async def test_without_include_usage_no_usage_chunk_is_sent(harness: Harness) -> None:
    chunks = [c async for c in harness.stub.CompleteStream(request("t/ok"))]
    assert all(e["choices"] for e in events(chunks))
    assert chunks[-1].outcome.usage.completion_tokens == 7  # the router still accounts it


async def test_a_stream_broken_after_its_answer_ended_is_still_whole(harness: Harness) -> None:
    chunks = [c async for c in harness.stub.CompleteStream(request("t/endcut"))]
    assert streamed_text(chunks) == "Hello"
    assert [e["choices"][0]["finish_reason"] for e in events(chunks)][-1] == "stop"


async def test_stream_without_provider_usage_is_estimated(harness: Harness) -> None:
    chunks = [c async for c in harness.stub.CompleteStream(request("t/nousage"))]
    assert chunks[-1].outcome.usage.completion_tokens == 2  # "Hello": 5 characters
    assert chunks[-1].outcome.usage.prompt_tokens > 0
    assert chunks[-1].outcome.usage.estimated


async def test_stream_falls_back_before_the_first_byte(harness: Harness) -> None:
    allow = ("t/limited", "t/broken", "t/garbage", "t/ok")
    chunks = [c async for c in harness.stub.CompleteStream(request(*allow, request_id="r-f"))]
    assert streamed_text(chunks) == "Hello"
    assert harness.upstream.calls == ["limited", "broken", "garbage", "ok"]
    await harness.analytics.wait_for(1)
    assert harness.analytics.by_request("r-f").attempts == 4


async def test_stream_broken_after_the_first_content_fails_the_call(harness: Harness) -> None:
    received: list[router_pb2.CompletionChunk] = []
    call = harness.stub.CompleteStream(request("t/cut", "t/vision", request_id="r-c"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, received)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (caught.value.details() or "").startswith("t/cut failed mid-stream")
    assert trailer(caught.value, "freeway-code") == "stream_interrupted"
    assert streamed_text(received) == "Hel"
    assert harness.upstream.calls == ["cut"]  # no fallback once the caller has content
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-c")
    assert (event.status, event.served_model) == (ERROR, "t/cut")
    assert event.completion_tokens > 0


async def test_client_cancel_cancels_the_upstream_request(harness: Harness) -> None:
    call = harness.stub.CompleteStream(request("t/hang", request_id="r-cancel"))
    first = await call.read()
    assert first.outcome.model == "t/hang"
    call.cancel()
    await asyncio.wait_for(harness.upstream.disconnected.wait(), 10)
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-cancel")
    assert (event.status, event.served_model, event.stream) == (CANCELLED, "t/hang", True)


async def test_deadline_is_honoured(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request("t/slow", request_id="r-late"), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-late")
    assert event.status in (ERROR, CANCELLED)
