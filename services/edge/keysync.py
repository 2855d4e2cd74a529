"""Every edge replica's keyring follows the key store: a revoked key stops working on every
replica within one poll (`FREEWAY_KEYS_SYNC_S`, 0.25 s by default) plus one reload.

Why polling and not LISTEN/NOTIFY or pub/sub: the same one-row query works on SQLite and
PostgreSQL, for changes made by any edge or by `freeway keys` in another process, and a
replica that was away (a dropped connection, a restart) cannot miss a change: it compares
versions. Four tiny reads a second per replica cost nothing a database notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.edge.accounts import Limits
from services.edge.auth import Keyring
from services.edge.keystore import KeyStore

log = logging.getLogger("freeway.edge")


class KeySync:
    def __init__(
        self, store: KeyStore, keyring: Keyring, defaults: Limits, interval_s: float
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.defaults = defaults
        self.interval_s = interval_s
        self.version = -1
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Reload every key and team now (the version first: a change racing this load
        moves it again, and the next poll reloads)."""
        version = await self.store.version()
        keys = await self.store.keys(include_revoked=False)
        teams = await self.store.teams()
        self.keyring.load(keys, teams, self.defaults)
        self.version = version

    async def poll(self) -> bool:
        """Reload when the store's version moved; whether it did."""
        if await self.store.version() == self.version:
            return False
        await self.load()
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except Exception as exc:  # the store is away: keep the keys we have
                log.warning("key store unreachable, keeping %d keys: %s", len(self.keyring), exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="key-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
