"""The live feed of routed requests: every newly stored usage event, handed to each watcher
as it is stored (`WatchUsage`).

Ingest records each batch's new events here (never the duplicates); each watcher has a
bounded inbox. A watcher that reads too slowly loses the oldest events, not the newest,
and is told how many it lost with the next one it reads, so one slow watcher never slows
ingest or the others. With no watcher, recording costs one check per batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from services.analytics.usage import UsageBatch, UsageEvent

INBOX = 1024  # events a watcher may fall behind before it loses the oldest


@dataclass(frozen=True, slots=True)
class Notice:
    """One stored event, and how many this watcher lost just before it."""

    event: UsageEvent
    dropped: int = 0


class Inbox:
    def __init__(self, capacity: int) -> None:
        self.queue: asyncio.Queue[UsageEvent | None] = asyncio.Queue(maxsize=capacity)
        self.dropped = 0

    def offer(self, event: UsageEvent | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)


class UsageFeed:
    """Fans each newly stored event out to every watcher's bounded inbox."""

    def __init__(self, capacity: int = INBOX) -> None:
        self.capacity = capacity
        self._inboxes: set[Inbox] = set()
        self._closed = False

    def record(self, batch: UsageBatch, indices: Iterable[int]) -> None:
        """Hand the events at `indices` of `batch` (those just stored) to every watcher."""
        if not self._inboxes:
            return
        events = [batch.event(i) for i in indices]
        for inbox in self._inboxes:
            for event in events:
                inbox.offer(event)

    def join(self) -> Inbox:
        """A watcher's inbox, receiving from now on (read it with `notices`)."""
        inbox = Inbox(self.capacity)
        if self._closed:
            inbox.offer(None)
        else:
            self._inboxes.add(inbox)
        return inbox

    async def notices(self, inbox: Inbox) -> AsyncIterator[Notice]:
        """The events of `inbox`, until the watcher leaves or `close()`."""
        try:
            while (event := await inbox.queue.get()) is not None:
                dropped, inbox.dropped = inbox.dropped, 0
                yield Notice(event, dropped)
        finally:
            self._inboxes.discard(inbox)

    def leave(self, inbox: Inbox) -> None:
        self._inboxes.discard(inbox)

    async def watch(self) -> AsyncIterator[Notice]:
        """Each event stored from now on, until the watcher leaves or `close()`."""
        async for notice in self.notices(self.join()):
            yield notice

    @property
    def watchers(self) -> int:
        return len(self._inboxes)

    def close(self) -> None:
        """End every watch (their streams finish cleanly)."""
        self._closed = True
        for inbox in self._inboxes:
            inbox.offer(None)
