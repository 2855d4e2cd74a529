"""Per-key rate limits (here the gateway's default for keys, FREEWAY_EDGE_RPM): in-process
by default, shared through Redis when REDIS_URL is set."""

from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis

from services.edge.auth import Keyring
from services.edge.config import key_digest
from services.shared.ratelimit import MemoryLedger
from tests.integration.edge.conftest import (
    AUTH,
    CHAT,
    USER,
    Backends,
    Edge,
    EdgeFactory,
    assert_openai_error,
    away_from_window_edge,
)


async def assert_limited_on_third_call(edge: Edge, headers: dict[str, str]) -> None:
    await away_from_window_edge()
    for _ in range(2):
        resp = await edge.client.post(CHAT, json={"messages": USER}, headers=headers)
        assert resp.status == 200
    resp = await edge.client.post(CHAT, json={"messages": USER}, headers=headers)
    error = await assert_openai_error(resp, 429)
    assert error["code"] == "rate_limit_exceeded"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert len(edge.router.seen) == 2


async def test_in_process_limit_gives_429_with_retry_after(make_edge: EdgeFactory) -> None:
    async with make_edge(rpm=2) as edge:
        await assert_limited_on_third_call(edge, AUTH)
        assert (await edge.client.get("/healthz")).status == 200


async def test_limits_are_per_key(make_edge: EdgeFactory) -> None:
    keyring = Keyring(key_digest("a-key"), {key_digest("b-key"): "b"})
    async with make_edge(rpm=1, keyring=keyring, limits=MemoryLedger()) as edge:
        await away_from_window_edge()
        for key in ("a-key", "b-key"):
            headers = {"Authorization": f"Bearer {key}"}
            resp = await edge.client.post(CHAT, json={"messages": USER}, headers=headers)
            assert resp.status == 200


async def test_no_limit_by_default(make_edge: EdgeFactory) -> None:
    async with make_edge() as edge:
        for _ in range(5):
            resp = await edge.client.post(CHAT, json={"messages": USER}, headers=AUTH)
            assert resp.status == 200


async def test_redis_backed_limit(
    make_edge: EdgeFactory, backends: Backends, redis_url: str
) -> None:
    key_id = f"edge-test-{uuid.uuid4().hex[:12]}"  # a key of its own: no run shares its counter
    keyring = Keyring(keys={key_digest("redis-key"): key_id})
    suite = backends.suite(redis_url=redis_url)
    prefix = f"test-{key_id}:"
    async with make_edge(rpm=2, keyring=keyring, suite=suite, limits_prefix=prefix) as edge:
        await assert_limited_on_third_call(edge, {"Authorization": "Bearer redis-key"})
    client = aioredis.Redis.from_url(redis_url)
    try:
        window = int(time.time() // 60)
        # The refused third request took nothing: the counter holds the two admitted.
        assert int(await client.get(f"{prefix}k:{key_id}:rpm:{window}") or 0) == 2
    finally:
        await client.aclose()
