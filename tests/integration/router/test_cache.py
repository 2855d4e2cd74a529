"""The response cache over real gRPC: repeated deterministic requests are answered without
a provider call, as whole answers or replayed as streams, per namespace, in Redis too."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc

from freeway.router.v1 import router_pb2
from tests.integration.router.conftest import (
    Harness,
    answer,
    events,
    request,
    router_stub,
    start_router,
    streamed_text,
)
from tests.integration.router.fakes import (
    MODELS_FOR_CACHE,
    FakeAnalytics,
    FakeCatalog,
    FakeUpstream,
)


async def test_a_repeated_deterministic_request_is_answered_from_the_cache(
    harness: Harness,
) -> None:
    first = await harness.stub.Complete(request("t/ok", request_id="r-1", temperature=0))
    second = await harness.stub.Complete(request("t/ok", request_id="r-2", temperature=0))
    assert harness.upstream.calls == ["ok"]  # the second never reached a provider
    assert (first.outcome.cache_hit, second.outcome.cache_hit) == (False, True)
    assert answer(second)["choices"] == answer(first)["choices"]
    assert answer(second)["id"] != answer(first)["id"]
    assert answer(second)["freeway"]["cache_hit"] is True
    assert second.outcome.cost_usd == 0.0
    assert second.outcome.saved_usd > 0
    await harness.analytics.wait_for(2)
    hit = harness.analytics.by_request("r-2")
    assert (hit.cache_hit, hit.served_model, hit.attempts) == (True, "t/ok", 0)
    assert hit.prompt_tokens == 11


async def test_a_cached_answer_is_replayed_as_a_stream_and_back(harness: Harness) -> None:
    await harness.stub.Complete(request("t/ok", temperature=0))
    chunks = [
        c
        async for c in harness.stub.CompleteStream(
            request("t/ok", temperature=0, stream=True, stream_options={"include_usage": True})
        )
    ]
    assert harness.upstream.calls == ["ok"]
    assert streamed_text(chunks) == "hello from ok"
    sent = events(chunks)
    assert sent[0]["choices"][0]["finish_reason"] == "stop"
    assert sent[-1]["usage"]["completion_tokens"] == 7
    assert chunks[0].outcome.cache_hit
    # a streamed answer is kept too, and answers a whole-answer request
    other = request("t/ok", content="Say it again.", temperature=0)
    streamed = [c async for c in harness.stub.CompleteStream(other)]
    whole = await harness.stub.Complete(other)
    assert harness.upstream.calls == ["ok", "ok"]
    assert answer(whole)["choices"][0]["message"]["content"] == streamed_text(streamed)
    assert whole.outcome.cache_hit


async def test_sampled_requests_other_keys_and_opt_outs_are_not_served_from_cache(
    harness: Harness,
) -> None:
    await harness.stub.Complete(request("t/ok", temperature=0, key_id="a"))
    await harness.stub.Complete(request("t/ok", temperature=0, key_id="b"))  # another key
    await harness.stub.Complete(request("t/ok"))  # sampled
    await harness.stub.Complete(request("t/ok"))
    off = request("t/ok", temperature=0, key_id="a")
    off.cache = router_pb2.CACHE_MODE_OFF
    await harness.stub.Complete(off)
    assert len(harness.upstream.calls) == 5
    on = request("t/ok", key_id="c")
    on.cache = router_pb2.CACHE_MODE_ON
    await harness.stub.Complete(on)
    again = await harness.stub.Complete(on)
    assert again.outcome.cache_hit
    assert len(harness.upstream.calls) == 6


async def test_routers_share_the_cache_through_redis(tmp_path: Path, redis_url: str) -> None:
    catalog, analytics, upstream = FakeCatalog(MODELS_FOR_CACHE), FakeAnalytics(), FakeUpstream()
    catalog_addr = f"127.0.0.1:{await catalog.start()}"
    analytics_addr = f"127.0.0.1:{await analytics.start()}"
    url = await upstream.start()
    prefix = f"freeway:test:cache:{uuid.uuid4().hex}:"
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    apps = [
        await start_router(
            tmp_path / name, catalog_addr, analytics_addr, url, redis_url=redis_url,
            cache_prefix=prefix,
        )
        for name in ("one", "two")
    ]  # fmt: skip
    try:
        for app in apps:
            await asyncio.wait_for(app.watcher.ready.wait(), 10)
        replies = []
        for app in apps:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                replies.append(await router_stub(channel).Complete(request(temperature=0)))
                await asyncio.sleep(0.1)  # the first router's write goes on in the background
        assert [r.outcome.cache_hit for r in replies] == [False, True]
        assert len(upstream.calls) == 1
    finally:
        for app in apps:
            await app.stop()
        await upstream.stop()
        await analytics.stop()
        await catalog.stop()
