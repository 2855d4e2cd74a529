"""The versioned catalogue in memory, its recent history, and live fan-out to watchers.

Every change carries the catalogue version it produced (versions are consecutive: a batch
of n changes moves the version from v to v+n). The store is the durable copy; this view is
what reads and WatchCatalog streams are served from. All methods are synchronous, so under
asyncio a subscriber's backlog and its registration for live events happen atomically:
nothing is lost or repeated between the two.

Each subscriber has a bounded buffer; one that falls too far behind is not waited for —
its buffer is dropped and it receives a fresh snapshot at the then-current version instead.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.catalog.delta import ChangeType
from services.catalog.records import ModelRecord

__all__ = [
    "Catalogue",
    "ChangeType",
    "Entry",
    "Event",
    "HistoryPage",
    "ModelFilter",
    "Subscription",
    "VersionGapError",
    "VersionedChange",
]


@dataclass(frozen=True, slots=True)
class Entry:
    """A record in the catalogue, with when it was first and last seen (epoch seconds)."""

    record: ModelRecord
    first_seen: float
    last_seen: float

    @property
    def id(self) -> str:
        return self.record.id


@dataclass(frozen=True, slots=True)
class VersionedChange:
    """One change to the catalogue and the version it produced."""

    version: int
    at: float
    type: ChangeType
    model_id: str
    old: Entry | None
    new: Entry | None
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """What a watcher receives: a snapshot or one change, stamped with the version after it."""

    version: int
    at: float
    snapshot: tuple[Entry, ...] | None = None
    change: VersionedChange | None = None


@dataclass(frozen=True, slots=True)
class ModelFilter:
    free_only: bool = False
    provider: str = ""
    capabilities: frozenset[str] = frozenset()
    min_context: int = 0

    def matches(self, record: ModelRecord) -> bool:
        return (
            (record.is_free or not self.free_only)
            and (not self.provider or record.provider == self.provider)
            and self.capabilities <= record.capabilities
            and record.context_window >= self.min_context
        )


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Retained changes after a version, oldest first: `more` when `limit` cut them short,
    `truncated` (and no changes) when history no longer reaches back to that version."""

    version: int
    changes: tuple[VersionedChange, ...] = ()
    truncated: bool = False
    more: bool = False


class VersionGapError(RuntimeError):
    """A change was applied whose version does not follow the catalogue's version."""


class Catalogue:
    """Current entries by id, the last `retention` changes, and the subscribers."""

    def __init__(
        self,
        retention: int = 10_000,
        queue_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.version = 0
        self._entries: dict[str, Entry] = {}
        self._history: deque[VersionedChange] = deque(maxlen=retention)
        self._queue_size = queue_size
        self._clock = clock
        self._subscribers: set[Subscription] = set()

    # -- reads -----------------------------------------------------------------------------

    def get(self, model_id: str) -> Entry | None:
        return self._entries.get(model_id)

    def select(self, wanted: ModelFilter = ModelFilter()) -> list[Entry]:
        """Entries matching `wanted`, ordered by id."""
        return sorted(
            (e for e in self._entries.values() if wanted.matches(e.record)), key=lambda e: e.id
        )

    def entries_of(self, provider: str) -> dict[str, Entry]:
        return {i: e for i, e in self._entries.items() if e.record.provider == provider}

    def changes_since(self, version: int) -> list[VersionedChange] | None:
        """Every change after `version`, or None when history no longer reaches back that far."""
        if not self.reaches(version):
            return None
        if version == self.version:
            return []
        return [c for c in self._history if c.version > version]

    def reaches(self, version: int) -> bool:
        """Whether every change after `version` is still in history (a version ahead of
        the catalogue, e.g. from before the store was reset, is out of reach too)."""
        if version >= self.version:
            return version == self.version
        oldest = self._history[0].version if self._history else self.version + 1
        return version + 1 >= oldest

    def history_page(self, since_version: int, limit: int) -> HistoryPage:
        """At most `limit` retained changes after `since_version`, oldest first."""
        if not self.reaches(since_version):
            return HistoryPage(self.version, truncated=True)
        wanted = (c for c in self._history if c.version > since_version)
        changes = tuple(itertools.islice(wanted, limit + 1))
        return HistoryPage(self.version, changes[:limit], more=len(changes) > limit)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # -- writes ----------------------------------------------------------------------------

    def load(
        self, version: int, entries: Iterable[Entry], history: Sequence[VersionedChange] = ()
    ) -> None:
        """Replace the whole state (start-up, or a standby that lost track); watchers resync."""
        self.version = version
        self._entries = {e.id: e for e in entries}
        self._history.clear()
        self._history.extend(c for c in history if c.version <= version)
        for sub in self._subscribers:
            sub.resync()

    def apply(self, changes: Sequence[VersionedChange]) -> None:
        """Apply consecutive changes and publish each to every subscriber."""
        for change in changes:
            if change.version != self.version + 1:
                raise VersionGapError(
                    f"change version {change.version} does not follow {self.version}"
                )
            if change.new is None:
                self._entries.pop(change.model_id, None)
            else:
                self._entries[change.model_id] = change.new
            self.version = change.version
            self._history.append(change)
            event = Event(change.version, change.at, change=change)
            for sub in self._subscribers:
                sub.offer(event)

    def touch(self, model_ids: Iterable[str], now: float) -> None:
        """Move last_seen forward for models seen again (not a change: no version bump)."""
        for model_id in model_ids:
            entry = self._entries.get(model_id)
            if entry is not None:
                self._entries[model_id] = Entry(entry.record, entry.first_seen, now)

    # -- watching --------------------------------------------------------------------------

    def subscribe(self, since_version: int) -> Subscription:
        """A live subscription: a snapshot when `since_version` is 0 or out of reach, else
        the retained changes after it; then every change as it is applied."""
        sub = Subscription(self, self._queue_size)
        backlog = self.changes_since(since_version) if since_version else None
        if backlog is None:
            sub.resync()
        else:
            for change in backlog:
                sub.offer(Event(change.version, change.at, change=change))
        self._subscribers.add(sub)
        return sub

    def snapshot_event(self) -> Event:
        entries = tuple(sorted(self._entries.values(), key=lambda e: e.id))
        return Event(self.version, self._clock(), snapshot=entries)

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)


class Subscription:
    """One watcher's bounded buffer; iterate it to receive events in version order."""

    def __init__(self, catalogue: Catalogue, max_pending: int) -> None:
        self._catalogue = catalogue
        self._max = max_pending
        self._pending: deque[Event] = deque()
        self._needs_snapshot = False
        self._wake = asyncio.Event()
        self.closed = False

    def offer(self, event: Event) -> None:
        """Buffer a live event; an overflowing buffer turns into a pending snapshot."""
        if self.closed or self._needs_snapshot:
            return
        if len(self._pending) >= self._max:
            self.resync()
            return
        self._pending.append(event)
        self._wake.set()

    def resync(self) -> None:
        self._pending.clear()
        self._needs_snapshot = True
        self._wake.set()

    def next_ready(self) -> Event | None:
        """The next event without waiting (None when nothing is buffered)."""
        if self._needs_snapshot:
            # The snapshot is taken now, at the current version, so it covers every change
            # that was dropped or not yet delivered.
            self._needs_snapshot = False
            self._pending.clear()
            return self._catalogue.snapshot_event()
        if self._pending:
            return self._pending.popleft()
        return None

    async def next(self) -> Event:
        """Wait for the next event; StopAsyncIteration once the subscription is closed."""
        while True:
            if self.closed:
                raise StopAsyncIteration
            event = self.next_ready()
            if event is not None:
                return event
            self._wake.clear()
            await self._wake.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.next()

    def close(self) -> None:
        self.closed = True
        self._catalogue._unsubscribe(self)
        self._wake.set()
