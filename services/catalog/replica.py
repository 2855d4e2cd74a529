"""One catalog process: keeps its in-memory catalogue in step with the store, and — while it
holds the leadership — runs the scheduler that polls the providers.

Standby replicas (and the leader before it is elected) follow the store: on every change
notice, and every `follower_sync_s` anyway, they read the history after their version and
apply it; if that history is no longer there, they reload the whole catalogue. A standby
asked to refresh a provider passes the request on to the leader (see relay.py).
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
from services.catalog.relay import OK, Answer, NoAnswer, Relay
from services.catalog.schedule import Scheduler, Timing, TooSoon
from services.catalog.status import ProviderState
from services.catalog.store import CatalogStore
from services.shared.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    FreewayError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from services.shared.providers import ProviderConfig

log = logging.getLogger("freeway.catalog")

# The errors a leader may answer a passed-on refresh with, by status name.
RELAYED_ERRORS: dict[str, type[FreewayError]] = {
    e.status: e
    for e in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
    )
}


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
        relay: Relay | None = None,
        refresh_timeout_s: float = 60.0,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.poller = poller
        self.leadership = leadership
        self.timing = timing
        self.follower_sync_s = follower_sync_s
        self.relay = relay
        self.refresh_timeout_s = refresh_timeout_s
        self.scheduler: Scheduler | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._notified = asyncio.Event()
        self._elected = asyncio.Event()
        self._sync = asyncio.Lock()

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
        if self.relay is not None:
            self._tasks.append(asyncio.create_task(self.relay.run(self._answer_refresh)))
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
        async with self._sync:  # following and a passed-on refresh may both catch up
            await self._catch_up()

    async def _catch_up(self) -> None:
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
        """Poll `name` now and return its status after the poll: here when this replica
        leads, else by the leader, asked through the relay."""
        provider = self.providers.get(name)
        if provider is None:
            raise NotFound(f"no provider named {name!r}", field="name")
        reason = unpollable_reason(provider, self.poller.env)
        if reason:
            raise FailedPrecondition(f"provider {name} is not polled: {reason}", field="name")
        if self.is_leader:
            return await self._poll_here(name)
        if self.relay is None:
            raise Unavailable("this catalog replica is a standby; the leader polls providers")
        return await self._poll_by_leader(provider, self.relay)

    async def _poll_here(self, name: str) -> ProviderState:
        scheduler = self.scheduler
        if scheduler is None or not self.leadership.is_leader:
            raise Unavailable("this catalog replica no longer leads; ask again")
        try:
            await scheduler.poll_now(name)
        except TooSoon as exc:
            raise ResourceExhausted(str(exc), field="name") from None
        return self.poller.states[name]

    async def _poll_by_leader(self, provider: ProviderConfig, relay: Relay) -> ProviderState:
        try:
            answer = await relay.ask(provider.name, self.refresh_timeout_s)
        except NoAnswer as exc:
            raise Unavailable(f"this catalog replica is a standby and {exc}") from None
        if answer.status != OK:
            error = RELAYED_ERRORS.get(answer.status, Unavailable)
            raise error(f"the leader answered: {answer.message}", field=answer.field)
        await self.sync()  # the leader stored the poll before answering: show its changes
        stored = await self.store.providers()
        return self._state(provider, stored.get(provider.name))

    async def _answer_refresh(self, name: str) -> Answer | None:
        """A standby's request, answered by the leader (other standbys stay silent)."""
        if not self.is_leader:
            return None
        try:
            await self.refresh(name)
        except FreewayError as exc:
            return Answer(exc.status, exc.message, exc.field)
        return Answer(OK)


def _consecutive(versions: Sequence[int]) -> bool:
    return all(b == a + 1 for a, b in itertools.pairwise(versions))
