"""Who polls: exactly one replica at a time.

With PostgreSQL the poller is whoever holds a session advisory lock on a dedicated
connection (keyed by the schema, so separate deployments in one database do not contend).
When that connection drops — the leader died, or the network did — PostgreSQL releases the
lock and a standby takes it on its next try. The same connection LISTENs for the leader's
change notices so standbys refresh their view at once. With SQLite (one process) the only
replica always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg

from services.catalog.store import NOTIFY_CHANNEL

log = logging.getLogger("freeway.catalog")

Hook = Callable[[], Awaitable[None]]
LOCK_NAME = "freeway.catalog.poller"
# What a lost or unreachable database connection raises (a listening session starts over).
CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Leadership(Protocol):
    is_leader: bool
    settled: asyncio.Event  # set once the first attempt to lead has been decided

    async def run(self, elected: Hook, deposed: Hook, notified: Callable[[], None]) -> None:
        """Run forever (until cancelled), calling `elected`/`deposed` on every transition."""
        ...


class SoloLeadership:
    """A single process with an embedded store: always the leader."""

    def __init__(self) -> None:
        self.is_leader = False
        self.settled = asyncio.Event()

    async def run(self, elected: Hook, deposed: Hook, notified: Callable[[], None]) -> None:
        self.is_leader = True
        await elected()
        self.settled.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.is_leader = False
            await deposed()


class NeverLeader:
    """A read-only replica (polling switched off): serves reads, never polls."""

    def __init__(self) -> None:
        self.is_leader = False
        self.settled = asyncio.Event()
        self.settled.set()

    async def run(self, elected: Hook, deposed: Hook, notified: Callable[[], None]) -> None:
        await asyncio.Event().wait()


class PgLeadership:
    """Leader by `pg_try_advisory_lock` held on a dedicated connection."""

    def __init__(self, url: str, retry_s: float = 5.0, name: str = LOCK_NAME) -> None:
        self.url = url
        self.retry_s = retry_s
        self.name = name
        self.is_leader = False
        self.settled = asyncio.Event()
        self.terms = 0  # how many times this replica has been elected
        self.backend_pid: int | None = None  # of the lock connection (tests terminate it)

    async def run(self, elected: Hook, deposed: Hook, notified: Callable[[], None]) -> None:
        while True:
            try:
                await self._session(elected, notified)
            except CONNECTION_ERRORS as exc:
                log.warning("leadership connection lost: %s: %s", type(exc).__name__, exc)
            finally:
                self.backend_pid = None
                if self.is_leader:
                    self.is_leader = False
                    log.info("no longer the catalog poller")
                    await deposed()
            await asyncio.sleep(self.retry_s)

    async def _session(self, elected: Hook, notified: Callable[[], None]) -> None:
        conn = await asyncpg.connect(self.url, timeout=10)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_a: notified())
            self.backend_pid = conn.get_server_pid()
            while not lost.is_set():
                if not self.is_leader and await self._try_lock(conn):
                    self.is_leader = True
                    self.terms += 1
                    log.info("this replica is now the catalog poller")
                    await elected()
                    self.settled.set()
                elif self.is_leader:
                    await conn.fetchval("SELECT 1")  # notices a dead connection promptly
                self.settled.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self.retry_s)
            raise ConnectionError("leadership connection closed")
        finally:
            await close_connection(conn)

    async def _try_lock(self, conn: Any) -> bool:
        got: bool = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtext($1 || ':' || current_schema()))", self.name
        )
        return got


async def close_connection(conn: Any) -> None:
    """Close a dedicated connection, or drop it when closing fails or hangs (a dead peer)."""
    try:
        await asyncio.wait_for(conn.close(), timeout=2)
    except CONNECTION_ERRORS:
        conn.terminate()
