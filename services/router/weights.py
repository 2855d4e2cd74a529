"""Taking up refitted scoring weights without a restart: the weights file is looked at
every few seconds, and a changed one replaces the weights in use (a file that cannot be
read is logged and the weights in use stay)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from native.kernel import WeightsError
from services.router.routing import Router

log = logging.getLogger("freeway.router")


class WeightsWatcher:
    def __init__(self, router: Router, interval_s: float = 5.0) -> None:
        self.router = router
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.router.weights_file is not None and self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def check(self) -> None:
        try:
            if self.router.reload_weights():
                log.info("scoring weights reloaded from %s", self.router.weights_file)
        except WeightsError as exc:
            log.warning("scoring weights not reloaded, keeping the ones in use: %s", exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.check()
