"""Free-tier quotas over real gRPC: a model whose per-minute quota is used up is skipped
before the provider answers 429 — in one router, and across two routers sharing Redis."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import redis.asyncio as aioredis

from freeway.common.v1 import common_pb2
from freeway.router.v1 import router_pb2_grpc
from services.router.app import App
from tests.conftest import free_port
from tests.integration.router.conftest import request, router_stub, start_router
from tests.integration.router.fakes import FakeAnalytics, FakeCatalog, FakeUpstream, model

TWO_PER_MINUTE = common_pb2.QuotaLimits(
    requests_per_minute=2, scope=common_pb2.QUOTA_SCOPE_PER_MODEL
)
PLENTY = common_pb2.QuotaLimits(requests_per_minute=100, scope=common_pb2.QUOTA_SCOPE_PER_MODEL)
MODELS = [
    model("quota-a", 0.9, free_tier=TWO_PER_MINUTE),
    model("quota-b", 0.5),
    model("limited", 0.4, free_tier=PLENTY),  # the fake upstream answers 429, Retry-After: 60
    model("ok", 0.3),
]


@dataclass
class Router:
    app: App
    stub: router_pb2_grpc.RouterServiceAsyncStub
    channel: grpc.aio.Channel

    async def served(self, *allow: str) -> str:
        response = await self.stub.Complete(request(*allow))
        return str(response.outcome.model)


def pinned_clock() -> Callable[[], float]:
    """Wall time stopped 1 s into the next minute: the test's requests share one minute
    window whenever they run, and Redis keeps that window's keys for over a minute."""
    moment = (time.time() // 60 + 1) * 60 + 1
    return lambda: moment


@dataclass
class Suite:
    """The fakes, and routers started on demand against them (stopped at the end)."""

    tmp_path: Path
    catalog_addr: str
    analytics_addr: str
    upstream: FakeUpstream
    upstream_url: str
    routers: list[Router]
    clock: Callable[[], float] = field(default_factory=pinned_clock)

    async def router(self, redis_url: str | None = None, prefix: str = "") -> Router:
        app = await start_router(
            _directory(self.tmp_path / f"router-{len(self.routers)}"),
            self.catalog_addr,
            self.analytics_addr,
            self.upstream_url,
            redis_url=redis_url,
            wall_clock=self.clock,
            quota_prefix=prefix or "freeway:quota:",
            quota_sync_s=0.05,
        )
        await asyncio.wait_for(app.watcher.ready.wait(), 10)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.port}")
        started = Router(app, router_stub(channel), channel)
        self.routers.append(started)
        return started


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[Suite]:
    catalog, analytics, upstream = FakeCatalog(MODELS), FakeAnalytics(), FakeUpstream()
    catalog_port = await catalog.start()
    analytics_port = await analytics.start()
    upstream_url = await upstream.start()
    built = Suite(
        tmp_path,
        f"127.0.0.1:{catalog_port}",
        f"127.0.0.1:{analytics_port}",
        upstream,
        upstream_url,
        [],
    )
    yield built
    for router in built.routers:
        await router.channel.close()
        await router.app.stop()
    await upstream.stop()
    await analytics.stop()
    await catalog.stop()


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"freeway:test:quota:{uuid.uuid4().hex[:12]}:"
    yield name
    client = aioredis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait for a background sync to make `condition` true (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {what}")
        await asyncio.sleep(0.01)


def used(router: Router, key: str) -> int:
    """Requests counted against `key` in this minute, as that router sees it."""
    assert router.app.quota is not None
    return router.app.quota.used(key)[0]


async def test_a_used_up_minute_quota_sends_the_next_request_elsewhere(suite: Suite) -> None:
    router = await suite.router()
    served = [await router.served("t/quota-a", "t/quota-b") for _ in range(3)]
    assert served == ["t/quota-a", "t/quota-a", "t/quota-b"]
    assert (suite.upstream.count("quota-a"), suite.upstream.count("quota-b")) == (2, 1)
    decision = await router.stub.Route(request("t/quota-a", "t/quota-b"))
    assert decision.chosen.model_id == "t/quota-b"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await router.stub.Route(request("t/quota-a"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "within free-tier quota: 0" in (caught.value.details() or "")


async def test_two_routers_share_one_quota_through_redis(
    suite: Suite, redis_url: str, prefix: str
) -> None:
    first = await suite.router(redis_url, prefix)
    second = await suite.router(redis_url, prefix)
    assert await first.served("t/quota-a", "t/quota-b") == "t/quota-a"
    await until(lambda: used(second, "t/quota-a") == 1, "the second router sees request 1")
    assert await second.served("t/quota-a", "t/quota-b") == "t/quota-a"
    await until(lambda: used(first, "t/quota-a") == 2, "the first router sees request 2")
    assert await first.served("t/quota-a", "t/quota-b") == "t/quota-b"
    assert await second.served("t/quota-a", "t/quota-b") == "t/quota-b"
    assert suite.upstream.count("quota-a") == 2  # never a third call, from either router


async def test_a_429_seen_by_one_router_holds_the_model_for_the_other(
    suite: Suite, redis_url: str, prefix: str
) -> None:
    first = await suite.router(redis_url, prefix)
    second = await suite.router(redis_url, prefix)
    assert await first.served("t/limited", "t/ok") == "t/ok"
    assert second.app.quota is not None
    quota = second.app.quota
    limited = second.app.router.model("t/limited")
    assert limited is not None
    await until(lambda: quota.remaining(limited) == 0.0, "the second router sees the hold")
    assert await second.served("t/limited", "t/ok") == "t/ok"
    assert suite.upstream.count("limited") == 1


async def test_redis_down_degrades_to_counting_per_process(
    suite: Suite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="freeway.router.quota")
    router = await suite.router(f"redis://127.0.0.1:{free_port()}/0", "freeway:test:down:")
    served = [await router.served("t/quota-a", "t/quota-b") for _ in range(3)]
    assert served == ["t/quota-a", "t/quota-a", "t/quota-b"]
    sync = router.app.quota_sync
    assert sync is not None
    await sync.sync()
    await sync.sync()
    assert sync.down
    warnings = [r for r in caplog.records if "redis unavailable" in r.getMessage()]
    assert len(warnings) == 1
