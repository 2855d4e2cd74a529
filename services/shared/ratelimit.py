"""Atomic admission counters: rate limits, token limits, concurrency and budgets, shared
through Redis when configured, in-process otherwise.

One admission is one atomic step over every counter a request is subject to (per key and
per team): either every check passes and every counter takes its share, or nothing
changes and the first failing check is named. In Redis that step is one Lua script (one
round trip, never read-modify-write across replicas); in process it is a plain function
with no `await` inside, which asyncio cannot interleave.

- A `Counter` is an integer in a fixed window (a minute, a day, a month): admitted when
  `used + need <= limit`, then `take` is added. Requests per minute: need 1, take 1.
  Tokens per minute: need 1, take 0 (tokens are added when the answer says how many).
  A budget: need = take = the reservation (nano-USD), adjusted by `cost - reservation`
  when the request settles.
- A `Gauge` is a set of in-flight tickets (concurrent requests): admitted when fewer than
  `limit` live tickets are held; a ticket leaves on settlement, or by itself after its
  `ttl_s` (a replica that died mid-request cannot hold a slot for ever).

When Redis is configured but down, admissions degrade to per-process counting instead of
failing requests (DESIGN.md: a dependency that is down degrades, it does not cascade).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("freeway.ratelimit")

ADMITTED = -1


@dataclass(frozen=True)
class Counter:
    name: str
    limit: int
    need: int
    take: int
    ttl_s: float  # how long the window's counter must live (to the window's end, and then some)


@dataclass(frozen=True)
class Gauge:
    name: str
    limit: int
    ttl_s: float  # the longest a ticket may hold its slot


@dataclass(frozen=True)
class Adjustment:
    name: str
    delta: int
    ttl_s: float


class Ledger(Protocol):
    async def admit(
        self, counters: Sequence[Counter], gauges: Sequence[Gauge], ticket: str
    ) -> int: ...

    async def settle(
        self, adjustments: Sequence[Adjustment], gauges: Sequence[str], ticket: str
    ) -> None: ...

    async def read(self, names: Sequence[str]) -> list[int]: ...

    async def close(self) -> None: ...


class MemoryLedger:
    """Per-process counters; bounded: expired counters are dropped as time moves on."""

    def __init__(self, max_counters: int = 200_000) -> None:
        self._values: dict[str, tuple[int, float]] = {}  # name → (value, expires at)
        self._gauges: dict[str, dict[str, float]] = {}  # name → ticket → expires at
        self._max = max_counters

    def _value(self, name: str, now: float) -> int:
        found = self._values.get(name)
        if found is None or found[1] <= now:
            return 0
        return found[0]

    def _live(self, name: str, now: float) -> dict[str, float]:
        tickets = self._gauges.setdefault(name, {})
        for ticket in [t for t, until in tickets.items() if until <= now]:
            del tickets[ticket]
        return tickets

    async def admit(self, counters: Sequence[Counter], gauges: Sequence[Gauge], ticket: str) -> int:
        return self.admit_now(counters, gauges, ticket)

    def admit_now(self, counters: Sequence[Counter], gauges: Sequence[Gauge], ticket: str) -> int:
        now = time.time()
        for i, c in enumerate(counters):
            if self._value(c.name, now) + c.need > c.limit:
                return i
        for j, g in enumerate(gauges):
            if len(self._live(g.name, now)) + 1 > g.limit:
                return len(counters) + j
        self._prune(now)
        for c in counters:
            self._add(c.name, c.take, c.ttl_s, now)
        for g in gauges:
            self._gauges[g.name][ticket] = now + g.ttl_s
        return ADMITTED

    def _add(self, name: str, delta: int, ttl_s: float, now: float) -> None:
        found = self._values.get(name)
        if found is None or found[1] <= now:
            self._values[name] = (delta, now + ttl_s)
        else:
            self._values[name] = (found[0] + delta, found[1])

    def _prune(self, now: float) -> None:
        if len(self._values) >= self._max:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
        if len(self._gauges) >= self._max:
            self._gauges = {k: v for k, v in self._gauges.items() if self._live(k, now)}

    async def settle(
        self, adjustments: Sequence[Adjustment], gauges: Sequence[str], ticket: str
    ) -> None:
        now = time.time()
        for a in adjustments:
            if a.delta:
                self._add(a.name, a.delta, a.ttl_s, now)
        for name in gauges:
            self._gauges.get(name, {}).pop(ticket, None)

    async def read(self, names: Sequence[str]) -> list[int]:
        now = time.time()
        return [self._value(n, now) for n in names]

    async def close(self) -> None:
        self._values.clear()
        self._gauges.clear()


# KEYS: the counters, then the gauges. ARGV: number of counters, now (ms), the ticket, then
# per counter: limit, need, take, ttl (ms); per gauge: limit, ttl (ms). Returns 0 when
# admitted, else the 1-based index of the first check that failed (nothing was taken).
_ADMIT = """
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local a = 4
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[a + 1]) > tonumber(ARGV[a]) then return i end
  a = a + 4
end
for i = n + 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) + 1 > tonumber(ARGV[a]) then return i end
  a = a + 2
end
a = 4
for i = 1, n do
  local take = tonumber(ARGV[a + 2])
  if take ~= 0 then redis.call('INCRBY', KEYS[i], take) end
  if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ARGV[a + 3]) end
  a = a + 4
end
for i = n + 1, #KEYS do
  local ttl = tonumber(ARGV[a + 1])
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[i], ttl)
  a = a + 2
end
return 0
"""

# KEYS: the counters to adjust, then the gauges to leave. ARGV: number of counters, the
# ticket, then per counter: delta, ttl (ms).
_SETTLE = """
local n = tonumber(ARGV[1])
local a = 3
for i = 1, n do
  redis.call('INCRBY', KEYS[i], ARGV[a])
  if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ARGV[a + 1]) end
  a = a + 2
end
for i = n + 1, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[2])
end
return 0
"""


class RedisLedger:
    """The same counters in Redis, each admission and settlement one Lua script.

    Every counter a request touches is named in one script call, so on Redis Cluster the
    names must share a hash slot: run the ledger on one Redis (or one shard)."""

    def __init__(self, client: aioredis.Redis, prefix: str = "freeway:rl:") -> None:
        self.client = client
        self.prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._settle = client.register_script(_SETTLE)
        self._fallback = MemoryLedger()

    @classmethod
    def from_url(cls, url: str, prefix: str = "freeway:rl:") -> RedisLedger:
        client = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, prefix)

    async def admit(self, counters: Sequence[Counter], gauges: Sequence[Gauge], ticket: str) -> int:
        keys = [self.prefix + c.name for c in counters] + [self.prefix + g.name for g in gauges]
        args: list[int | str] = [len(counters), int(time.time() * 1000), ticket]
        for c in counters:
            args += [c.limit, c.need, c.take, _ms(c.ttl_s)]
        for g in gauges:
            args += [g.limit, _ms(g.ttl_s)]
        try:
            failed = int(await self._admit(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            log.warning("redis unavailable, limiting per process: %s", exc)
            return await self._fallback.admit(counters, gauges, ticket)
        return ADMITTED if failed == 0 else failed - 1

    async def settle(
        self, adjustments: Sequence[Adjustment], gauges: Sequence[str], ticket: str
    ) -> None:
        moved = [a for a in adjustments if a.delta]
        if not moved and not gauges:
            return
        keys = [self.prefix + a.name for a in moved] + [self.prefix + g for g in gauges]
        args: list[int | str] = [len(moved), ticket]
        for a in moved:
            args += [a.delta, _ms(a.ttl_s)]
        try:
            await self._settle(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            log.warning("redis unavailable, settling per process: %s", exc)
            await self._fallback.settle(adjustments, gauges, ticket)

    async def read(self, names: Sequence[str]) -> list[int]:
        if not names:
            return []
        try:
            values = await self.client.mget([self.prefix + n for n in names])
        except (RedisError, OSError):
            return await self._fallback.read(names)
        return [int(v) if v is not None else 0 for v in values]

    async def close(self) -> None:
        await self.client.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def ledger(redis_url: str | None, prefix: str = "freeway:rl:") -> Ledger:
    return RedisLedger.from_url(redis_url, prefix) if redis_url else MemoryLedger()
