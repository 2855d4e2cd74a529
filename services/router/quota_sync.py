"""Sharing the free-tier quota ledger between router replicas through Redis.

Decisions never wait for Redis. Each replica counts into its own ledger at once; a
background task pushes the deltas in one pipeline (INCRBY + EXPIRE per window key, SET
with an expiry for a 429 hold) and takes the shared totals from the replies. Every
`interval_s` it also reads the current windows of every quota key the catalogue uses
(one MGET), so a replica learns what the others used before it calls that model itself.

Trade-off: between two syncs replicas do not see each other's latest requests, so the
fleet can overshoot a limit by about (replicas - 1) x the requests one replica sends a
key within one sync interval. The provider's 429 then holds the key for every replica.

When Redis is down the ledger keeps counting per process (logged once); unsent deltas
are kept (bounded by their windows) and pushed when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.router.quota import METRICS, Cell, QuotaLedger

log = logging.getLogger("freeway.router.quota")

_EXPIRY_SLACK_S = 5  # keep a window key a little past its end: clocks of replicas differ


class RedisQuotaSync:
    """Pushes a ledger's counts to Redis and pulls the shared totals back."""

    def __init__(
        self,
        ledger: QuotaLedger,
        client: aioredis.Redis,
        *,
        prefix: str = "freeway:quota:",
        interval_s: float = 0.25,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.prefix = prefix
        self.interval_s = interval_s
        self.down = False
        self._wake = asyncio.Event()
        self._next_refresh = 0.0
        self._task: asyncio.Task[None] | None = None
        ledger.shared = True
        ledger.on_unsent = self._wake.set

    @classmethod
    def from_url(
        cls, ledger: QuotaLedger, url: str, *, prefix: str, interval_s: float
    ) -> RedisQuotaSync:
        client = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(ledger, client, prefix=prefix, interval_s=interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quota-sync")

    async def close(self) -> None:
        """Stop syncing, push what is left (best effort), close the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not self.down:
            await self.push()
        await self.client.aclose()

    async def sync(self) -> None:
        """One round: push unsent counts, then refresh the shared view of every tracked key."""
        await self.push()
        await self.refresh()

    async def push(self) -> None:
        """Send unsent deltas and holds in one pipeline; the replies are the shared totals."""
        cells, holds = self.ledger.take_unsent()
        if not cells and not holds:
            return
        order = list(cells)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for cell in order:
                    name = self._name(cell)
                    pipe.incrby(name, cells[cell])
                    pipe.expireat(name, cell.expires_at + _EXPIRY_SLACK_S)
                for key, until in holds.items():
                    pipe.set(self._hold_name(key), repr(until), exat=math.ceil(until))
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.ledger.restore_unsent(cells, holds)
            self._failed(exc)
            return
        self._recovered()
        for cell, total in zip(order, replies[0 : 2 * len(order) : 2], strict=True):
            self.ledger.apply_shared(cell, int(total))

    async def refresh(self) -> None:
        """Read the current windows and holds of every tracked key (one MGET)."""
        keys = sorted(self.ledger.tracked)
        if not keys:
            return
        cells = self.ledger.current_cells(keys)
        names = [self._name(c) for c in cells] + [self._hold_name(k) for k in keys]
        try:
            values = await self.client.mget(names)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._recovered()
        for cell, value in zip(cells, values[: len(cells)], strict=True):
            if value is not None:
                self.ledger.apply_shared(cell, int(value))
        for key, value in zip(keys, values[len(cells) :], strict=True):
            if value is not None:
                self.ledger.apply_shared_hold(key, float(value))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            now = time.monotonic()
            if self.down and now < self._next_refresh:
                continue  # while Redis is down, retry once per interval, not per request
            try:
                await self.push()
                if now >= self._next_refresh:
                    self._next_refresh = now + self.interval_s
                    await self.refresh()
            except Exception:  # the loop must outlive any surprise; the ledger still counts
                log.exception("quota sync round failed")

    def _failed(self, exc: BaseException) -> None:
        self._next_refresh = time.monotonic() + self.interval_s
        if not self.down:
            log.warning("redis unavailable, counting free-tier quota per process: %s", exc)
        self.down = True

    def _recovered(self) -> None:
        if self.down:
            log.info("redis reachable again, sharing free-tier quota")
        self.down = False

    def _name(self, cell: Cell) -> str:
        return f"{self.prefix}{cell.key}:{METRICS[cell.metric]}:{cell.window}"

    def _hold_name(self, key: str) -> str:
        return f"{self.prefix}{key}:held"
