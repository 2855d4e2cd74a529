"""Optional webhooks: every batch of catalogue changes is POSTed as a JSON notice to each
configured URL, with bounded retries (exponential backoff, Retry-After honoured).

Delivery runs in a background worker fed by a bounded queue, so a slow receiver never
holds up polling; when the queue is full the oldest notice is dropped, with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from services.catalog.catalogue import VersionedChange
from services.catalog.schedule import parse_retry_after
from services.catalog.serial import record_to_dict

log = logging.getLogger("freeway.catalog")

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def notice(changes: Sequence[VersionedChange]) -> dict[str, Any]:
    """The JSON body sent for one batch of changes."""
    return {
        "type": "freeway.catalog.changes",
        "version": changes[-1].version if changes else 0,
        "changes": [
            {
                "version": c.version,
                "at": c.at,
                "type": c.type.value,
                "model_id": c.model_id,
                "changed_fields": list(c.changed_fields),
                "old": record_to_dict(c.old.record) if c.old else None,
                "new": record_to_dict(c.new.record) if c.new else None,
            }
            for c in changes
        ],
    }


class WebhookNotifier:
    """Posts change notices to `urls`; `notify` never blocks."""

    def __init__(
        self,
        urls: Sequence[str],
        client: httpx.AsyncClient,
        attempts: int = 5,
        timeout_s: float = 10.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        queue_size: int = 1000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.urls = tuple(urls)
        self.client = client
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._sleep = sleep
        self._worker: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    def notify(self, changes: Sequence[VersionedChange]) -> None:
        if not self.urls or not changes:
            return
        if self._queue.full():
            dropped = self._queue.get_nowait()
            log.warning("webhook queue full: dropped the notice for version %s", dropped["version"])
        self._queue.put_nowait(notice(changes))

    async def drain(self) -> None:
        """Wait until every queued notice has been delivered or given up on."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await asyncio.gather(*(self.deliver(url, body) for url in self.urls))
            finally:
                self._queue.task_done()

    async def deliver(self, url: str, body: dict[str, Any]) -> bool:
        """POST `body` to `url`, retrying transient failures; True when accepted (2xx)."""
        for attempt in range(1, self.attempts + 1):
            wait = await self._attempt(url, body, attempt)
            if wait is None:
                self.delivered += 1
                return True
            if wait < 0 or attempt == self.attempts:
                break
            await self._sleep(wait)
        self.failed += 1
        log.warning("webhook %s: gave up on the notice for version %s", url, body["version"])
        return False

    async def _attempt(self, url: str, body: dict[str, Any], attempt: int) -> float | None:
        """None on success, the seconds to wait before retrying, or -1 when not retryable."""
        try:
            response = await self.client.post(
                url,
                json=body,
                timeout=self.timeout_s,
                headers={"User-Agent": "freeway-catalog", "X-Freeway-Event": body["type"]},
            )
        except httpx.HTTPError as exc:
            log.info("webhook %s: %s: %s", url, type(exc).__name__, exc)
            return self._backoff(attempt)
        if response.is_success:
            return None
        if response.status_code not in RETRYABLE:
            log.warning("webhook %s answered HTTP %d; not retrying", url, response.status_code)
            return -1.0
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
        return max(self._backoff(attempt), min(retry_after or 0.0, self.backoff_max_s))

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** min(attempt - 1, 32)))
