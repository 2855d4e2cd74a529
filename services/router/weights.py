"""Taking up refitted scoring weights without a restart: the weights file is looked at
every few seconds and on SIGHUP, and a changed one (new inode, time or size: `freeway
router fit` renames a complete file into place) replaces the weights in use. A file that
cannot be read, or is not valid weights, is refused with a log line, and the weights in
use stay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from native.kernel import WeightsError
from services.router.routing import Router

log = logging.getLogger("freeway.router")


class WeightsWatcher:
    def __init__(self, router: Router, interval_s: float = 5.0, *, sighup: bool = False) -> None:
        self.router = router
        self.interval_s = interval_s
        self.sighup = sighup  # only the process's main loop may own a signal
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        log.info("scoring weights in use: %s", self.router.weights_version)
        if self.router.weights_file is None or self._task is not None:
            return
        self._task = asyncio.ensure_future(self._run())
        if self.sighup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.check)

    async def stop(self) -> None:
        if self._task is not None:
            if self.sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def check(self) -> bool:
        """Take up the file if it changed; whether the weights in use were replaced."""
        before = self.router.weights_version
        try:
            if not self.router.reload_weights():
                return False
        except WeightsError as exc:
            log.warning("scoring weights refused, keeping %s: %s", before, exc)
            return False
        log.info(
            "scoring weights reloaded from %s: %s (was %s)",
            self.router.weights_file,
            self.router.weights_version,
            before,
        )
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.check()
