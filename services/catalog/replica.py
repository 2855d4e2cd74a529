"""One catalog process: keeps its in-memory catalogue in step with the store, and — while it
holds the leadership — runs the scheduler that polls the providers.

Standby replicas (and the leader before it is elected) follow the store: on every change
notice, and every `follower_sync_s` anyway, they read the history after their version and
apply it; if that history is no longer there, they reload the whole catalogue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping, Sequence

from services.catalog.catalogue import Catalogue
from services.catalog.leadership import Leadership
from services.catalog.poller import Poller, unpollable_reason
from services.catalog.schedule import Scheduler, Timing, TooSoon
from services.catalog.status import ProviderState
from services.catalog.store import CatalogStore
from services.shared.errors import FailedPrecondition, NotFound, ResourceExhausted, Unavailable
from services.shared.providers import ProviderConfig

log = logging.getLogger("freeway.catalog")


class Replica:
    """Leadership, follower sync and polling for one process."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: CatalogStore,
        poller: Poller,
        leadership: Leadership,
        timing: Timing,
        follower_sync_s: float = 2.0,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.poller = poller
        self.leadership = leadership
        self.timing = timing
        self.follower_sync_s = follower_sync_s
        self.scheduler: Scheduler | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._notified = asyncio.Event()
        self._elected = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader and self.scheduler is not None

    @property
    def providers(self) -> Mapping[str, ProviderConfig]:
        return self.poller.providers

    async def start(self, settle_s: float = 10.0) -> None:
        """Load the catalogue, then lead or follow in the background; returns once the
        first attempt to lead is decided (or after `settle_s`, e.g. while the database is
        unreachable), so a fresh leader does not answer RefreshProvider as a standby."""
        await self.reload()
        self._tasks = [
            asyncio.create_task(
                self.leadership.run(self._on_elected, self._on_deposed, self._notified.set)
            ),
            asyncio.create_task(self._follow()),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.leadership.settled.wait(), settle_s)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._stop_scheduler()

    async def wait_elected(self) -> None:
        """Return once this replica leads (tests and start-up logs use it)."""
        await self._elected.wait()

    # -- following the store ---------------------------------------------------------------

    async def reload(self) -> None:
        loaded = await self.store.load()
        self.catalogue.load(loaded.version, loaded.entries, loaded.history)
        self.poller.misses = dict(loaded.misses)

    async def sync(self) -> None:
        """Catch up with the store: apply its newer history, or reload when that is gone."""
        stored = await self.store.version()
        if stored == self.catalogue.version:
            return
        if stored > self.catalogue.version:
            changes = await self.store.history_since(self.catalogue.version)
            if (
                changes
                and changes[0].version == self.catalogue.version + 1
                and _consecutive([c.version for c in changes])
            ):
                self.catalogue.apply(changes)
                return
        await self.reload()

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._notified.wait(), self.follower_sync_s)
            self._notified.clear()
            if self.is_leader:
                continue
            try:
                await self.sync()
            except Exception:  # a store hiccup must not end following; retry next round
                log.exception("catalogue sync from the store failed")

    # -- leading ---------------------------------------------------------------------------

    async def _on_elected(self) -> None:
        await self.reload()
        await self.poller.start(self.poller.misses)
        intervals = {p.name: p.poll_interval_s for p in self.poller.pollable()}
        self.scheduler = Scheduler(
            self.poller.poll, intervals, self.timing, on_next=self.poller.set_next_poll
        )
        self._scheduler_task = asyncio.create_task(self.scheduler.run())
        self._elected.set()

    async def _on_deposed(self) -> None:
        self._elected.clear()
        await self._stop_scheduler()

    async def _stop_scheduler(self) -> None:
        task, self._scheduler_task, self.scheduler = self._scheduler_task, None, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- operations ------------------------------------------------------------------------

    async def provider_states(self) -> list[ProviderState]:
        """Every configured provider's status, in providers-file order."""
        stored = dict(self.poller.states) if self.is_leader else await self.store.providers()
        return [self._state(p, stored.get(p.name)) for p in self.providers.values()]

    def _state(self, provider: ProviderConfig, stored: ProviderState | None) -> ProviderState:
        if stored is not None:
            return stored
        reason = unpollable_reason(provider, self.poller.env)
        return ProviderState(
            provider.name, provider.format, provider.base_url, last_error=reason or "not polled yet"
        )

    async def refresh(self, name: str) -> ProviderState:
        """Poll `name` now (leader only) and return its status after the poll."""
        provider = self.providers.get(name)
        if provider is None:
            raise NotFound(f"no provider named {name!r}", field="name")
        reason = unpollable_reason(provider, self.poller.env)
        if reason:
            raise FailedPrecondition(f"provider {name} is not polled: {reason}", field="name")
        scheduler = self.scheduler
        if scheduler is None or not self.leadership.is_leader:
            raise Unavailable("this catalog replica is a standby; the leader polls providers")
        try:
            await scheduler.poll_now(name)
        except TooSoon as exc:
            raise ResourceExhausted(str(exc), field="name") from None
        return self.poller.states[name]


def _consecutive(versions: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in itertools.pairwise(versions))
