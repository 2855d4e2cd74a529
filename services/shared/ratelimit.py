"""Atomic admission counters: rate limits, token limits, concurrency and budgets, shared
through Redis when configured, in-process otherwise.

One admission is one atomic step over every counter a request is subject to (per key and
per team): either every check passes and every counter takes its share, or nothing
changes and the first failing check is named. In Redis that step is one Lua script (one
round trip, never read-modify-write across replicas; concurrent requests share one call,
each still all-or-nothing); in process it is a plain function
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

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.shared.resp import Reply, RespClient, RespError

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


# One script call for a batch: the settlements first (they give capacity back), then the
# admissions in their order, each all-or-nothing. KEYS: every counter and gauge the batch
# names, once. ARGV: now (ms); the number of counter adjustments, then per adjustment: key
# index, delta, ttl (ms); the number of gauge leaves, then per leave: key index, ticket; the
# number of admissions, then per admission: counters n, gauges m, ticket, n times (key
# index, limit, need, take, ttl) and m times (key index, limit, ttl). Returns, per
# admission, 0 when admitted, else the 1-based index of the first check that failed.
_BATCH = """
local now = tonumber(ARGV[1])
local a = 2
local n = tonumber(ARGV[a]); a = a + 1
for i = 1, n do
  local k = KEYS[tonumber(ARGV[a])]
  redis.call('INCRBY', k, ARGV[a + 1])
  if redis.call('PTTL', k) == -1 then redis.call('PEXPIRE', k, ARGV[a + 2]) end
  a = a + 3
end
n = tonumber(ARGV[a]); a = a + 1
for i = 1, n do
  redis.call('ZREM', KEYS[tonumber(ARGV[a])], ARGV[a + 1])
  a = a + 2
end
n = tonumber(ARGV[a]); a = a + 1
local results = {}
for r = 1, n do
  local nc, ng, ticket = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2]
  a = a + 3
  local first, failed = a, 0
  for i = 1, nc do
    if failed == 0 then
      local used = tonumber(redis.call('GET', KEYS[tonumber(ARGV[a])]) or '0')
      if used + tonumber(ARGV[a + 2]) > tonumber(ARGV[a + 1]) then failed = i end
    end
    a = a + 5
  end
  for j = 1, ng do
    if failed == 0 then
      local k = KEYS[tonumber(ARGV[a])]
      redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
      if redis.call('ZCARD', k) + 1 > tonumber(ARGV[a + 1]) then failed = nc + j end
    end
    a = a + 3
  end
  if failed == 0 then
    local b = first
    for i = 1, nc do
      local k = KEYS[tonumber(ARGV[b])]
      local take = tonumber(ARGV[b + 3])
      if take ~= 0 then redis.call('INCRBY', k, take) end
      if redis.call('PTTL', k) == -1 then redis.call('PEXPIRE', k, ARGV[b + 4]) end
      b = b + 5
    end
    for j = 1, ng do
      local k = KEYS[tonumber(ARGV[b])]
      local ttl = tonumber(ARGV[b + 2])
      redis.call('ZADD', k, now + ttl, ticket)
      redis.call('PEXPIRE', k, ttl)
      b = b + 3
    end
  end
  results[r] = failed
end
return results
"""


@dataclass
class _Admit:
    counters: Sequence[Counter]
    gauges: Sequence[Gauge]
    ticket: str
    done: asyncio.Future[int]


@dataclass
class _Settle:
    adjustments: Sequence[Adjustment]
    gauges: Sequence[str]
    ticket: str
    done: asyncio.Future[None] | None


class _Batch:
    """The keys and arguments of one script call."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._index: dict[str, int] = {}

    def key(self, name: str) -> int:
        found = self._index.get(name)
        if found is None:
            self.keys.append(name)
            found = self._index[name] = len(self.keys)
        return found


class RedisLedger:
    """The same counters in Redis: every admission and settlement goes through one Lua
    script. One script call is in flight per process at a time; what arrives meanwhile
    goes in the next call together, so under load many requests share one round trip
    (each still all-or-nothing, in arrival order), and alone a request pays one.

    Every counter a batch touches is named in its call, so on Redis Cluster the names must
    share a hash slot: run the ledger on one Redis (or one shard)."""

    def __init__(self, client: RespClient, prefix: str = "freeway:rl:") -> None:
        self.client = client
        self.prefix = prefix
        self._sha = hashlib.sha1(_BATCH.encode()).hexdigest()
        self._fallback = MemoryLedger()
        self._admits: list[_Admit] = []
        self._settles: list[_Settle] = []
        self._drainer: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str = "freeway:rl:") -> RedisLedger:
        return cls(RespClient(url, timeout_s=0.5), prefix)

    async def admit(self, counters: Sequence[Counter], gauges: Sequence[Gauge], ticket: str) -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._admits.append(_Admit(counters, gauges, ticket, done))
        self._kick()
        return await done

    async def settle(
        self, adjustments: Sequence[Adjustment], gauges: Sequence[str], ticket: str
    ) -> None:
        if not any(a.delta for a in adjustments) and not gauges:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settles.append(_Settle(adjustments, gauges, ticket, done))
        self._kick()
        await done

    def _kick(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="ledger")

    async def _drain(self) -> None:
        while self._admits or self._settles:
            admits, self._admits = self._admits, []
            settles, self._settles = self._settles, []
            try:
                results = await self._send(admits, settles)
            except RespError as exc:
                log.warning("redis unavailable, limiting per process: %s", exc)
                results = await self._locally(admits, settles)
            for s in settles:
                if s.done is not None and not s.done.done():
                    s.done.set_result(None)
            for admission, failed in zip(admits, results, strict=True):
                if not admission.done.done():
                    admission.done.set_result(failed)
                elif failed == ADMITTED:  # its request left while waiting: give it back
                    self._settles.append(_undo(admission))

    async def _send(self, admits: list[_Admit], settles: list[_Settle]) -> list[int]:
        batch, p = _Batch(), self.prefix
        moved = [a for s in settles for a in s.adjustments if a.delta]
        args: list[int | str] = [int(time.time() * 1000), len(moved)]
        for a in moved:
            args += [batch.key(p + a.name), a.delta, _ms(a.ttl_s)]
        leaves = [(g, s.ticket) for s in settles for g in s.gauges]
        args.append(len(leaves))
        for gauge, ticket in leaves:
            args += [batch.key(p + gauge), ticket]
        args.append(len(admits))
        for adm in admits:
            args += [len(adm.counters), len(adm.gauges), adm.ticket]
            for c in adm.counters:
                args += [batch.key(p + c.name), c.limit, c.need, c.take, _ms(c.ttl_s)]
            for g in adm.gauges:
                args += [batch.key(p + g.name), g.limit, _ms(g.ttl_s)]
        replies = await self._evalsha(batch.keys, args)
        assert isinstance(replies, list), replies
        return [ADMITTED if int(r) == 0 else int(r) - 1 for r in replies]

    async def _evalsha(self, keys: list[str], args: list[int | str]) -> Reply:
        try:
            return await self.client.call("EVALSHA", self._sha, len(keys), *keys, *args)
        except RespError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.client.call("SCRIPT", "LOAD", _BATCH)  # a restarted or new Redis
        return await self.client.call("EVALSHA", self._sha, len(keys), *keys, *args)

    async def _locally(self, admits: list[_Admit], settles: list[_Settle]) -> list[int]:
        for s in settles:
            await self._fallback.settle(s.adjustments, s.gauges, s.ticket)
        return [self._fallback.admit_now(a.counters, a.gauges, a.ticket) for a in admits]

    async def read(self, names: Sequence[str]) -> list[int]:
        if not names:
            return []
        try:
            values = await self.client.call("MGET", *(self.prefix + n for n in names))
        except RespError:
            return await self._fallback.read(names)
        assert isinstance(values, list), values
        return [int(v) if v is not None else 0 for v in values]

    async def close(self) -> None:
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        await self.client.close()


def _undo(admission: _Admit) -> _Settle:
    """The settlement that gives back what an abandoned admission took."""
    taken = [Adjustment(c.name, -c.take, c.ttl_s) for c in admission.counters if c.take]
    return _Settle(taken, [g.name for g in admission.gauges], admission.ticket, None)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def ledger(redis_url: str | None, prefix: str = "freeway:rl:") -> Ledger:
    return RedisLedger.from_url(redis_url, prefix) if redis_url else MemoryLedger()
