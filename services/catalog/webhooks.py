"""Webhooks: every batch of catalogue changes and every alert is POSTed as JSON to each
configured URL, through a persistent outbox (see alert_store.py) so that nothing queued is
lost to a restart or a receiver that is down.

A background worker claims due rows, POSTs them, and on a transient failure (connection
error, timeout, 408/425/429/5xx) schedules the next attempt with exponential backoff,
never sooner than the receiver's Retry-After; after `attempts` tries, or on any other
answer, the row is "dead" (kept, with its last error, and logged). With a secret, each body
is signed: `X-Freeway-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`, with the
timestamp in `X-Freeway-Timestamp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from services.catalog.alert_store import AlertStore, Delivery, Notice
from services.catalog.catalogue import VersionedChange
from services.catalog.schedule import parse_retry_after
from services.catalog.serial import record_to_dict

log = logging.getLogger("freeway.catalog")

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
CHANGES_EVENT = "freeway.catalog.changes"


def notice(changes: Sequence[VersionedChange]) -> dict[str, Any]:
    """The JSON body sent for one batch of changes."""
    return {
        "type": CHANGES_EVENT,
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


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True)
class DeliveryPolicy:
    attempts: int = 8
    timeout_s: float = 10.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    idle_check_s: float = 5.0  # rows other replicas enqueued are seen at least this often
    secret: str = ""
    keep_s: float = 7 * 86_400.0  # delivered and dead rows are pruned after this; 0: never
    prune_every_s: float = 3_600.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** min(attempt - 1, 32)))


class WebhookOutbox:
    """Enqueues notices for `urls` in the store and delivers them in the background."""

    def __init__(
        self,
        urls: Sequence[str],
        client: httpx.AsyncClient,
        store: AlertStore,
        policy: DeliveryPolicy | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.urls = tuple(urls)
        self.client = client
        self.store = store
        self.policy = policy or DeliveryPolicy()
        self._wall = wall
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0
        self.depth: dict[str, int] = {}  # outbox rows by state, as of the last round
        self._pruned_at = float("-inf")  # monotonic

    def start(self) -> None:
        if self.urls:
            self._worker = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    def wake(self) -> None:
        """Something was enqueued (the worker looks at once)."""
        self._wake.set()

    async def notify(self, changes: Sequence[VersionedChange]) -> None:
        """Enqueue the notice of a batch of changes."""
        if not self.urls or not changes:
            return
        body = json.dumps(notice(changes), separators=(",", ":"))
        await self.store.enqueue(
            Notice(CHANGES_EVENT, str(changes[-1].version), body), self.urls, self._wall()
        )
        self.wake()

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait (bounded) until nothing is pending: every row delivered or given up on."""
        async with asyncio.timeout(timeout_s):
            while (await self.store.counts())["pending"]:
                self.wake()
                await asyncio.sleep(0.02)

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
                await self.housekeep()
                wait = await self._idle_wait()
            except Exception:  # a store hiccup must not end delivery; retry soon
                log.exception("webhook delivery round failed")
                wait = self.policy.idle_check_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def housekeep(self) -> None:
        """Prune done rows past `keep_s` (at most every `prune_every_s`), and read the depth
        by state that /metrics shows."""
        began = time.monotonic()
        if self.policy.keep_s and began - self._pruned_at >= self.policy.prune_every_s:
            self._pruned_at = began
            pruned = await self.store.prune_outbox(self._wall() - self.policy.keep_s)
            if pruned:
                log.info("pruned %d delivered or dead webhook row(s)", pruned)
        self.depth = await self.store.counts()

    async def _idle_wait(self) -> float:
        due = await self.store.next_due()
        if due is None:
            return self.policy.idle_check_s
        return min(self.policy.idle_check_s, max(0.0, due - self._wall()))

    async def deliver_due(self) -> int:
        """Deliver every row due now (one attempt each); return how many were attempted."""
        attempted = 0
        while True:
            lease = self.policy.timeout_s + 5.0
            batch = await self.store.claim(self._wall(), lease)
            if not batch:
                return attempted
            attempted += len(batch)
            await asyncio.gather(*(self._deliver(d) for d in batch))

    async def _deliver(self, delivery: Delivery) -> None:
        wait, error = await self._attempt(delivery)
        now = self._wall()
        if wait is None:
            self.delivered += 1
            await self.store.delivered(delivery.seq, now)
            return
        if wait >= 0 and delivery.attempts < self.policy.attempts:
            log.info(
                "webhook %s: attempt %d failed (%s); next in %.1fs",
                delivery.url,
                delivery.attempts,
                error,
                wait,
            )
            await self.store.retry_at(delivery.seq, now + wait, error)
            return
        self.failed += 1
        log.warning(
            "webhook %s: gave up on %s %s after %d attempt(s): %s",
            delivery.url,
            delivery.event,
            delivery.ref,
            delivery.attempts,
            error,
        )
        await self.store.dead(delivery.seq, now, error)

    async def _attempt(self, delivery: Delivery) -> tuple[float | None, str]:
        """(None, "") on success; else the seconds to wait before retrying (-1: do not
        retry) and what went wrong."""
        body = delivery.body.encode()
        try:
            response = await self.client.post(
                delivery.url,
                content=body,
                timeout=self.policy.timeout_s,
                headers=self._headers(delivery, body),
            )
        except httpx.HTTPError as exc:
            return self.policy.backoff(delivery.attempts), f"{type(exc).__name__}: {exc}"
        if response.is_success:
            return None, ""
        error = f"HTTP {response.status_code}"
        if response.status_code not in RETRYABLE:
            return -1.0, error
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall())
        wait = max(
            self.policy.backoff(delivery.attempts),
            min(retry_after or 0.0, self.policy.backoff_max_s),
        )
        return wait, error

    def _headers(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "freeway-catalog",
            "X-Freeway-Event": delivery.event,
            "X-Freeway-Delivery": str(delivery.seq),
            "X-Freeway-Attempt": str(delivery.attempts),
        }
        if self.policy.secret:
            stamp = str(int(self._wall()))
            headers["X-Freeway-Timestamp"] = stamp
            headers["X-Freeway-Signature"] = signature(self.policy.secret, stamp, body)
        return headers
