from __future__ import annotations

import uuid

from services.shared.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter


async def _exhaust(limiter: RateLimiter, key: str) -> list[bool]:
    return [(await limiter.hit(key, 3, 60)).allowed for _ in range(5)]


async def test_memory_limiter_counts_per_key() -> None:
    limiter = MemoryRateLimiter()
    assert await _exhaust(limiter, "a") == [True, True, True, False, False]
    assert (await limiter.hit("b", 3, 60)).remaining == 2


async def test_redis_limiter_is_shared_between_instances(redis_url: str) -> None:
    key = f"test-{uuid.uuid4().hex}"
    one, two = RedisRateLimiter.from_url(redis_url), RedisRateLimiter.from_url(redis_url)
    try:
        assert [(await one.hit(key, 3, 60)).allowed, (await two.hit(key, 3, 60)).allowed] == [
            True,
            True,
        ]
        third, fourth = await one.hit(key, 3, 60), await two.hit(key, 3, 60)
        assert (third.allowed, third.remaining, fourth.allowed) == (True, 0, False)
        assert 0 < fourth.reset_s <= 60
    finally:
        await one.close()
        await two.close()


async def test_redis_down_degrades_to_process_limits() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        assert await _exhaust(limiter, "k") == [True, True, True, False, False]
    finally:
        await limiter.close()
