"""Fixed-window rate limits, shared through Redis when configured, in-process otherwise.

When Redis is configured but down, limits degrade to per-process counting instead of
failing requests (DESIGN.md: a dependency that is down degrades, it does not cascade).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("freeway.ratelimit")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # seconds until the window resets


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: int) -> Decision: ...
    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Per-process fixed windows; bounded: old windows are dropped as time moves on."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, limit: int, window_s: int) -> Decision:
        now = time.time()
        window = int(now // window_s)
        slot = (key, window)
        if len(self._counts) >= self._max_keys:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            if len(self._counts) >= self._max_keys:
                self._counts.clear()
        count = self._counts.get(slot, 0) + 1
        self._counts[slot] = count
        reset = (window + 1) * window_s - now
        return Decision(count <= limit, limit, max(limit - count, 0), reset)

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """INCR + EXPIRE on one key per window, pipelined in one round trip."""

    def __init__(self, client: aioredis.Redis, prefix: str = "freeway:rl:") -> None:
        self.client = client
        self.prefix = prefix
        self._fallback = MemoryRateLimiter()

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        client = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client)

    async def hit(self, key: str, limit: int, window_s: int) -> Decision:
        now = time.time()
        window = int(now // window_s)
        name = f"{self.prefix}{key}:{window}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_s + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("redis unavailable, limiting per process: %s", exc)
            return await self._fallback.hit(key, limit, window_s)
        reset = (window + 1) * window_s - now
        return Decision(int(count) <= limit, limit, max(limit - int(count), 0), reset)

    async def close(self) -> None:
        await self.client.aclose()


def rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter.from_url(redis_url) if redis_url else MemoryRateLimiter()
