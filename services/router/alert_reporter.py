"""Sends the router's alerts (free-quota crossings) to the catalog, which stores, logs and
delivers them (RaiseAlert over the router's catalog channel).

Fire and forget: `submit` puts the alert on a bounded queue and returns at once, so a
request never waits for the catalog; a background task sends them, retrying a catalog that
is down a few times before giving one up (logged). When the queue is full a new alert is
dropped, with a warning. The alert's stable id makes a resend (or another replica's same
crossing) a no-op in the catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from google.protobuf import struct_pb2

from freeway.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.router.quota_alarm import Crossing

log = logging.getLogger("freeway.router.alerts")

SEVERE_SHARE = 0.95  # from this share of a limit on, a crossing is critical


def crossing_alert(crossing: Crossing) -> catalog_pb2.Alert:
    """The QUOTA_LOW alert of one crossing, with the count before and after it."""
    c = crossing
    alert = catalog_pb2.Alert(
        id=c.id,
        kind=catalog_pb2.ALERT_KIND_QUOTA_LOW,
        severity=(
            catalog_pb2.ALERT_SEVERITY_CRITICAL
            if c.share >= SEVERE_SHARE
            else catalog_pb2.ALERT_SEVERITY_WARNING
        ),
        subject=c.key,
        provider=c.model.provider,
        model_id=c.model.id if c.key == c.model.id else "",
        values=[
            _value(f"{c.limit_name}_used", c.before, c.after),
            _value(f"{c.limit_name}_limit", c.limit, c.limit),
            _value("used_share", round(c.before / c.limit, 4), round(c.after / c.limit, 4)),
        ],
        message=(
            f"free quota {c.key}: {c.after} of {c.limit} {c.limit_name.replace('_', ' ')}"
            f" used ({c.after / c.limit:.0%}, past {c.share:.0%}) this {c.window_name}"
        ),
        source="router",
    )
    alert.at.FromNanoseconds(int(c.at * 1e9))
    return alert


def _value(field: str, old: float, new: float) -> catalog_pb2.AlertValue:
    return catalog_pb2.AlertValue(
        field=field, old=struct_pb2.Value(number_value=old), new=struct_pb2.Value(number_value=new)
    )


class AlertReporter:
    """A bounded queue of alerts and the task that hands them to the catalog."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        queue_size: int = 256,
        timeout_s: float = 5.0,
        attempts: int = 5,
        backoff_s: float = 1.0,
    ) -> None:
        self.stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._queue: asyncio.Queue[catalog_pb2.Alert] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-reporter")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def crossed(self, crossing: Crossing) -> None:
        """The quota alarm's sink."""
        self.submit(crossing_alert(crossing))

    def submit(self, alert: catalog_pb2.Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("alert queue full: dropped alert %s", alert.id)

    async def drain(self) -> None:
        """Wait until every queued alert was sent or given up on (tests)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._send(alert)
            finally:
                self._queue.task_done()

    async def _send(self, alert: catalog_pb2.Alert) -> None:
        request = catalog_pb2.RaiseAlertRequest(alert=alert)
        for attempt in range(1, self.attempts + 1):
            try:
                await self.stub.RaiseAlert(request, timeout=self.timeout_s)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.INVALID_ARGUMENT or attempt == self.attempts:
                    log.warning("alert %s not raised: %s", alert.id, exc.details())
                    return
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            else:
                self.sent += 1
                return
