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
from tests.integration.router.conftest import Harness, request

OK = analytics_pb2.USAGE_STATUS_OK
ERROR = analytics_pb2.USAGE_STATUS_ERROR
CANCELLED = analytics_pb2.USAGE_STATUS_CANCELLED


async def collect(
    call: AsyncIterator[router_pb2.CompletionChunk], into: list[router_pb2.CompletionChunk]
) -> None:
    async for chunk in call:
        into.append(chunk)


async def test_complete_answers_and_reports_usage(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/ok", request_id="r-ok", max_tokens=50))
    assert response.model == "t/ok"
    assert response.choices[0].message.content == "hello from ok"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 7)
    assert response.usage.total_tokens == 18
    assert response.attempts == 1
    assert response.route.chosen.model_id == "t/ok"
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
    assert event.complexity == pytest.approx(response.route.complexity)


async def test_fallbacks_in_order_and_retry_after_is_honoured(harness: Harness) -> None:
    allow = ("t/limited", "t/broken", "t/garbage", "t/ok")
    response = await harness.stub.Complete(request(*allow, request_id="r-1"))
    assert response.model == "t/ok"
    assert response.attempts == 4
    assert harness.upstream.calls == ["limited", "broken", "garbage", "ok"]
    # the 429 said "Retry-After: 60": the next request does not even try that model
    decision = await harness.stub.Route(request(*allow))
    assert "t/limited" not in [decision.chosen.model_id, *(c.model_id for c in decision.fallbacks)]
    await harness.stub.Complete(request(*allow, request_id="r-2"))
    assert harness.upstream.count("limited") == 1
    await harness.analytics.wait_for(2)
    first = harness.analytics.by_request("r-1")
    assert (first.served_model, first.attempts, first.status) == ("t/ok", 4, OK)


async def test_repeated_failures_open_the_breaker(harness: Harness) -> None:
    for _ in range(3):
        response = await harness.stub.Complete(request("t/broken", "t/ok"))
        assert response.model == "t/ok"
    assert harness.upstream.count("broken") == 3
    decision = await harness.stub.Route(request("t/broken", "t/ok"))
    assert (decision.chosen.model_id, len(decision.fallbacks)) == ("t/ok", 0)
    await harness.stub.Complete(request("t/broken", "t/ok"))
    assert harness.upstream.count("broken") == 3
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Route(request("t/broken"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "healthy (breaker closed, not rate-limited): 0 (retry in" in (
        caught.value.details() or ""
    )


async def test_timeout_moves_on(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/slow", "t/ok"))
    assert (response.model, response.attempts) == ("t/ok", 2)
    assert harness.upstream.calls == ["slow", "ok"]


async def test_provider_rejection_is_invalid_argument_with_its_message(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request("t/reject", "t/ok", request_id="r-bad"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        "t/reject rejected the request: messages[0].content is too long"
    )
    assert harness.upstream.calls == ["reject"]
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-bad")
    assert (event.status, event.served_model, event.attempts) == (ERROR, "", 1)
    assert event.error.startswith("INVALID_ARGUMENT: t/reject rejected the request")


async def test_every_candidate_failing_is_unavailable(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request("t/broken", "t/garbage"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    details = caught.value.details() or ""
    assert details.startswith("all 2 attempts failed: t/broken: HTTP 500 server error: internal")
    assert "t/garbage: HTTP 200 malformed reply" in details


async def test_explicit_unknown_model_is_not_found_and_still_recorded(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Complete(request(model="t/missing", request_id="r-missing"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-missing")
    assert (event.requested_model, event.status, event.attempts) == ("t/missing", ERROR, 0)


async def test_missing_usage_is_estimated(harness: Harness) -> None:
    response = await harness.stub.Complete(request("t/nousage"))
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens == len("hello from nousage") // 4 + 1


async def test_stream_chunks_then_usage_on_the_last(harness: Harness) -> None:
    chunks = [c async for c in harness.stub.CompleteStream(request("t/ok", request_id="r-s"))]
    assert harness.upstream.bodies[-1]["stream_options"] == {"include_usage": True}
    text = "".join(choice.content for c in chunks for choice in c.choices)
    assert text == "Hello"
    assert chunks[0].choices[0].role == "assistant"
    assert all(c.model == "t/ok" for c in chunks)
    assert [c.HasField("usage") for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (11, 7)
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-s")
    assert (event.stream, event.status, event.completion_tokens) == (True, OK, 7)
    assert 0 < event.ttft_ms <= event.latency_ms


async def test_finish_chunk_rides_with_the_usage_chunk(harness: Harness) -> None:
    chunks = [c async for c in harness.stub.CompleteStream(request("t/ok"))]
    deltas = [[(ch.role, ch.content, ch.finish_reason) for ch in c.choices] for c in chunks]
    assert deltas == [
        [("assistant", "", "")],
        [("", "Hel", "")],
        [("", "lo", "")],
        [("", "", "stop")],
    ]
    assert [c.HasField("usage") for c in chunks] == [False, False, False, True]


async def test_finish_chunk_still_arrives_before_a_failure(harness: Harness) -> None:
    received: list[router_pb2.CompletionChunk] = []
    call = harness.stub.CompleteStream(request("t/endcut"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, received)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert [ch.finish_reason for c in received for ch in c.choices] == ["", "", "", "stop"]
    assert not any(c.HasField("usage") for c in received)


async def test_stream_without_provider_usage_is_estimated(harness: Harness) -> None:
    chunks = [c async for c in harness.stub.CompleteStream(request("t/nousage"))]
    assert chunks[-1].usage.completion_tokens == 2  # "Hello": 5 characters
    assert chunks[-1].usage.prompt_tokens > 0


async def test_stream_falls_back_before_the_first_byte(harness: Harness) -> None:
    allow = ("t/limited", "t/broken", "t/garbage", "t/ok")
    chunks = [c async for c in harness.stub.CompleteStream(request(*allow, request_id="r-f"))]
    assert "".join(ch.content for c in chunks for ch in c.choices) == "Hello"
    assert harness.upstream.calls == ["limited", "broken", "garbage", "ok"]
    await harness.analytics.wait_for(1)
    assert harness.analytics.by_request("r-f").attempts == 4


async def test_stream_broken_after_the_first_byte_fails_the_call(harness: Harness) -> None:
    received: list[router_pb2.CompletionChunk] = []
    call = harness.stub.CompleteStream(request("t/cut", "t/vision", request_id="r-c"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(call, received)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (caught.value.details() or "").startswith("t/cut failed mid-stream")
    assert "".join(ch.content for c in received for ch in c.choices) == "Hel"
    assert harness.upstream.calls == ["cut"]  # no fallback once the caller has bytes
    await harness.analytics.wait_for(1)
    event = harness.analytics.by_request("r-c")
    assert (event.status, event.served_model) == (ERROR, "t/cut")
    assert event.completion_tokens > 0


async def test_client_cancel_cancels_the_upstream_request(harness: Harness) -> None:
    call = harness.stub.CompleteStream(request("t/hang", request_id="r-cancel"))
    first = await call.read()
    assert first.model == "t/hang"
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
