"""The exact response cache: the same request asked again gets the same answer, without
calling a model.

Keyed on the normalised request — the forwarded body with its keys sorted, the model asked
for, the strategy and constraints — within a namespace (the caller's team, else its key),
so callers that should not share never do. Only deterministic requests are cached by
default (`temperature: 0` or a `seed`), or any request whose caller asks for it
(`x-freeway-cache: on`); a caller can also turn it off per request or per key. A request
asking for log probabilities is not cached (streamed ones are per chunk). An entry is the
answer's choices, usage and who answered, so a cached answer is replayed as a whole answer
or as a stream, whichever is asked.

Stores: Redis when configured (shared by every router replica; a failing Redis is a miss,
logged once), else in process (LRU, bounded in entries and bytes). Entries expire after a
TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from services.router.request import LOGPROBS, ChatRequest

log = logging.getLogger("freeway.router.cache")

# CacheMode numbers (router.proto): what the caller asked for.
CACHE_DEFAULT = 0
CACHE_ON = 1
CACHE_OFF = 2


class Store(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Entry:
    """What a cached answer holds."""

    model: str
    choices: list[dict[str, Any]]  # index, message, finish_reason
    usage: dict[str, int]

    def encode(self) -> bytes:
        return orjson.dumps({"model": self.model, "choices": self.choices, "usage": self.usage})

    @classmethod
    def decode(cls, raw: bytes) -> Entry | None:
        try:
            doc = orjson.loads(raw)
            return cls(str(doc["model"]), list(doc["choices"]), dict(doc["usage"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None  # an entry we cannot read is a miss, never an error


def cacheable(chat: ChatRequest, mode: int) -> bool:
    """Whether this request's answer may be cached and served from the cache."""
    if mode == CACHE_OFF or chat.needs & LOGPROBS:
        return False
    if mode == CACHE_ON:
        return True
    return chat.body.get("temperature") == 0 or "seed" in chat.body


def cache_key(
    namespace: str, chat: ChatRequest, routing: Sequence[Any], key_prefix: str = ""
) -> str:
    """The entry's key: a digest of the namespace, the body and the routing inputs."""
    doc = orjson.dumps(
        [namespace, chat.model, chat.body, list(routing)], option=orjson.OPT_SORT_KEYS
    )
    return key_prefix + hashlib.sha256(doc).hexdigest()


class MemoryStore:
    """An in-process LRU cache with expiry, bounded in entries and in bytes."""

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.size = 0
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self.clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self.max_bytes:
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = (self.clock() + ttl_s, value)
        self.size += len(value)
        while len(self._items) > self.max_entries or self.size > self.max_bytes:
            self._drop(next(iter(self._items)))

    async def close(self) -> None:
        self._items.clear()
        self.size = 0

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self.size -= len(value)


class RedisStore:
    """Entries in Redis, shared by every router replica; Redis failing is a miss."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.down = False

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        import redis.asyncio as aioredis

        return cls(aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))

    async def get(self, key: str) -> bytes | None:
        from redis.exceptions import RedisError

        try:
            value = await self.client.get(key)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._up()
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        from redis.exceptions import RedisError

        try:
            await self.client.set(key, value, px=max(1, round(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def close(self) -> None:
        await self.client.aclose()

    def _failed(self, exc: BaseException) -> None:
        if not self.down:
            log.warning("response cache: Redis unavailable, answering without it: %s", exc)
        self.down = True

    def _up(self) -> None:
        if self.down:
            log.info("response cache: Redis is back")
        self.down = False


class ResponseCache:
    """Reads and writes entries; writes go on in the background (an answer never waits)."""

    def __init__(self, store: Store, ttl_s: float = 3600.0, prefix: str = "freeway:cache:") -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._writing: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> Entry | None:
        raw = await self.store.get(key)
        return None if raw is None else Entry.decode(raw)

    def put(self, key: str, entry: Entry) -> None:
        task = asyncio.ensure_future(self.store.put(key, entry.encode(), self.ttl_s))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def close(self) -> None:
        for task in list(self._writing):
            with contextlib.suppress(Exception):
                await task
        await self.store.close()
