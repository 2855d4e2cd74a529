"""The alert pipeline of the catalog: every alert — from a poll's changes, from a
provider's polls, or raised by the router — is stored once (deduplicated on its id),
logged as one structured line with its old and new values, enqueued for every webhook,
and made visible to `watch` (WatchAlerts) and `recent` (ListAlerts).

Watchers tail the store by seq, so a replica serves alerts another replica raised (seen
within `poll_s`; at once for its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from services.catalog import alerts
from services.catalog.alert_store import AlertStore
from services.catalog.alerts import Alert, ProviderWatch
from services.catalog.catalogue import VersionedChange
from services.catalog.status import ProviderState
from services.catalog.webhooks import WebhookOutbox
from services.shared.vocabulary import AlertKind, AlertSeverity

log = logging.getLogger("freeway.catalog.alerts")

_LEVELS = {
    AlertSeverity.INFO: logging.INFO,
    AlertSeverity.WARNING: logging.WARNING,
    AlertSeverity.CRITICAL: logging.WARNING,
}


class AlertCenter:
    def __init__(
        self,
        store: AlertStore,
        outbox: WebhookOutbox,
        down_after: int = 3,
        poll_s: float = 1.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.providers = ProviderWatch(down_after)
        self.poll_s = poll_s
        self._wall = wall
        self._raised = asyncio.Event()

    async def raise_alert(self, alert: Alert) -> tuple[Alert, bool]:
        """Store, log, enqueue and publish `alert`; (the stored alert, whether it was new)."""
        stored, new = await self.store.raise_alert(alert, self.outbox.urls, self._wall())
        if new:
            _log(stored)
            self.outbox.wake()
            self._raised.set()
            self._raised = asyncio.Event()
        return stored, new

    async def changed(self, changes: Sequence[VersionedChange]) -> None:
        """A poll's changes: their notice to webhooks, and their alerts."""
        await self.outbox.notify(changes)
        for alert in alerts.from_changes(changes):
            await self.raise_alert(alert)

    async def polled(self, before: ProviderState, after: ProviderState) -> None:
        alert = self.providers.polled(before, after, self._wall())
        if alert is not None:
            await self.raise_alert(alert)

    async def recent(
        self, limit: int, kinds: Sequence[AlertKind] = (), before: int = 0
    ) -> list[Alert]:
        return await self.store.recent(limit, kinds, before)

    async def watch(self, since: int, kinds: Sequence[AlertKind] = ()) -> AsyncIterator[Alert]:
        """Alerts after seq `since` (0: from now on), oldest first, forever."""
        wanted = frozenset(kinds)
        cursor = since or await self.store.last_seq()
        while True:
            raised = self._raised  # taken before reading, so no alert falls between
            batch = await self.store.after(cursor)
            for alert in batch:
                cursor = alert.seq
                if not wanted or alert.kind in wanted:
                    yield alert
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(raised.wait(), self.poll_s)


def _log(alert: Alert) -> None:
    changes = ", ".join(f"{v.field} {v.old!r} → {v.new!r}" for v in alert.values)
    log.log(
        _LEVELS[alert.severity],
        "alert %s %s: %s (%s)",
        alert.kind.api_name,
        alert.subject,
        alert.message,
        changes,
        extra={
            "alert_id": alert.id,
            "alert_seq": alert.seq,
            "alert_kind": alert.kind.api_name,
            "severity": alert.severity.api_name,
            "subject": alert.subject,
            "values": [{"field": v.field, "old": v.old, "new": v.new} for v in alert.values],
        },
    )
