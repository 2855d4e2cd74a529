"""The store's background work, as tasks of the analytics app: the roll-up worker (every
tick, pending events into the rollups) and the pruner (retention, every so often).

Neither may stop the service: a failed pass is logged and retried on the next tick.
Several analytics replicas may run both at once: roll-ups take disjoint events, and
deleting what another replica already deleted is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.analytics.store import UsageStore

log = logging.getLogger("freeway.analytics")


@dataclass
class Maintenance:
    store: UsageStore
    roll_up_interval_s: float
    prune_interval_s: float
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(
                _every(self.roll_up_interval_s, self.roll_up, "roll-up"), name="analytics-roll-up"
            ),
            asyncio.create_task(
                _every(self.prune_interval_s, self.prune, "prune"), name="analytics-prune"
            ),
        ]

    async def roll_up(self) -> None:
        await self.store.roll_up_all()

    async def prune(self) -> None:
        deleted = {table: n for table, n in (await self.store.prune()).items() if n}
        if deleted:
            log.info("retention pruned %s", deleted)

    async def stop(self) -> None:
        """Stop both loops, then roll up what is still pending (a quick last pass)."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        try:
            await self.store.roll_up_all()
        except Exception:  # the next start rolls it up; nothing is lost
            log.warning("final roll-up failed; pending usage is rolled up at the next start")


async def _every(interval_s: float, work: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        try:
            await work()
        except Exception:
            log.exception("analytics %s failed; retrying in %.1fs", name, interval_s)
        await asyncio.sleep(interval_s)
