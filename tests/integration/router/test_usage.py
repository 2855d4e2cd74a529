"""Usage reporting: every event is spooled to disk before its answer leaves and shipped from
there; while analytics is away it waits on disk and is replayed once it is back, nothing
lost and nothing stored twice; what shutdown could not send, the next start sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from freeway.analytics.v1 import analytics_pb2
from services.router.app import App
from services.router.spool import read_records
from tests.conftest import free_port
from tests.integration.router.conftest import MODELS, request, router_stub, start_router
from tests.integration.router.fakes import FakeAnalytics, FakeCatalog, FakeUpstream

COUNT = 25


@pytest.fixture
async def catalog() -> AsyncIterator[str]:
    fake = FakeCatalog(MODELS)
    port = await fake.start()
    yield f"127.0.0.1:{port}"
    await fake.stop()


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    fake = FakeUpstream()
    yield await fake.start()
    await fake.stop()


def spooled(tmp_path: Path) -> list[bytes]:
    """Every event in the spool's segments (what analytics has not acknowledged)."""
    segments = sorted((tmp_path / "var" / "spool" / "router").glob("*.wal"))
    return [record for path in segments for record in read_records(path)]


async def eventually(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def complete_many(app: App, prefix: str) -> set[str]:
    await asyncio.wait_for(app.watcher.ready.wait(), 10)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = router_stub(channel)
        ids = {f"{prefix}-{i}" for i in range(COUNT)}
        for request_id in sorted(ids):
            await stub.Complete(request("t/ok", request_id=request_id))
    return ids


async def test_analytics_down_spools_then_replays_everything_once(
    tmp_path: Path, catalog: str, upstream: str
) -> None:
    analytics_addr = f"127.0.0.1:{free_port()}"
    app = await start_router(tmp_path, catalog, analytics_addr, upstream)
    analytics = FakeAnalytics()
    try:
        ids = await complete_many(app, "down")
        await eventually(lambda: len(spooled(tmp_path)) == COUNT)
        await analytics.start(analytics_addr)
        await analytics.wait_for(COUNT, timeout=30)
        await eventually(lambda: spooled(tmp_path) == [])
        stored = {event.request_id for event in analytics.events.values()}
        assert stored == ids
        assert len(analytics.events) == COUNT
        assert app.reporter.pending_bytes == 0
    finally:
        await app.stop()
        await analytics.stop()


async def test_shutdown_spools_and_the_next_start_replays(
    tmp_path: Path, catalog: str, upstream: str
) -> None:
    analytics_addr = f"127.0.0.1:{free_port()}"
    first = await start_router(tmp_path, catalog, analytics_addr, upstream)
    try:
        ids = await complete_many(first, "before-restart")
    finally:
        await first.stop(grace_s=0.5)
    assert len(spooled(tmp_path)) == COUNT  # nothing dropped at shutdown
    analytics = FakeAnalytics()
    await analytics.start(analytics_addr)
    second = await start_router(tmp_path, catalog, analytics_addr, upstream)
    try:
        await analytics.wait_for(COUNT, timeout=30)
        assert {event.request_id for event in analytics.events.values()} == ids
        await eventually(lambda: spooled(tmp_path) == [])
    finally:
        await second.stop()
        await analytics.stop()


async def test_live_stream_batches_and_acks(tmp_path: Path, catalog: str, upstream: str) -> None:
    analytics = FakeAnalytics()
    port = await analytics.start()
    app = await start_router(tmp_path, catalog, f"127.0.0.1:{port}", upstream)
    try:
        ids = await complete_many(app, "live")
        await analytics.wait_for(COUNT)
        assert {event.request_id for event in analytics.events.values()} == ids
        assert analytics.duplicates == 0
        await eventually(lambda: app.reporter.acknowledged == COUNT)
        assert spooled(tmp_path) == []
    finally:
        await app.stop()
        await analytics.stop()


async def test_a_batch_analytics_refuses_is_set_aside_not_resent_forever(
    tmp_path: Path, catalog: str, upstream: str
) -> None:
    analytics = FakeAnalytics(refuse=frozenset({"poison"}))
    port = await analytics.start()
    app = await start_router(tmp_path, catalog, f"127.0.0.1:{port}", upstream)
    spool_dir = tmp_path / "var" / "spool" / "router"
    try:
        await asyncio.wait_for(app.watcher.ready.wait(), 10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = router_stub(channel)
            await stub.Complete(request("t/ok", request_id="poison"))
            await eventually(lambda: any(spool_dir.glob("*.rejected")))
            await stub.Complete(request("t/ok", request_id="fine"))
        await analytics.wait_for(1)
        assert [e.request_id for e in analytics.events.values()] == ["fine"]
        (kept,) = spool_dir.glob("*.rejected")
        events = [analytics_pb2.UsageEvent.FromString(r) for r in read_records(kept)]
        assert [e.request_id for e in events] == ["poison"]
        # "fine" is stored before its ack reaches the router: the spool empties on the ack.
        await eventually(lambda: spooled(tmp_path) == [])
    finally:
        await app.stop()
        await analytics.stop()


async def test_at_its_bound_the_spool_refuses_completions_until_analytics_drains_it(
    tmp_path: Path, catalog: str, upstream: str
) -> None:
    analytics_addr = f"127.0.0.1:{free_port()}"
    app = await start_router(
        tmp_path, catalog, analytics_addr, upstream, usage_spool_max_bytes=2000
    )
    analytics = FakeAnalytics()
    try:
        await asyncio.wait_for(app.watcher.ready.wait(), 10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = router_stub(channel)
            answered, refused = 0, None
            for n in range(100):  # ~250 bytes an event: full after a few
                try:
                    await stub.Complete(request("t/ok", request_id=f"bound-{n}"))
                except grpc.aio.AioRpcError as exc:
                    refused = exc
                    break
                answered += 1
            assert refused is not None
            assert refused.code() == grpc.StatusCode.UNAVAILABLE
            assert "usage spool full" in (refused.details() or "")
            assert 0 < answered < 100
            assert len(spooled(tmp_path)) == answered  # every answered one is on disk
            await analytics.start(analytics_addr)
            await analytics.wait_for(answered, timeout=30)
            await eventually(lambda: not app.reporter.spool.full)
            await stub.Complete(request("t/ok", request_id="after"))
        await analytics.wait_for(answered + 1, timeout=30)
    finally:
        await app.stop()
        await analytics.stop()
