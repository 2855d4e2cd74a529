"""Alerts and the webhook outbox, in the catalog's database (SQLite or PostgreSQL).

`catalog_alerts` keeps every alert (unique on its stable id, ordered by `seq`);
`catalog_webhook_outbox` holds one row per (notice, webhook URL) until it is delivered or
given up on ("dead"), so deliveries survive a restart; done rows are kept a while to be
inspected, then pruned. An alert and its outbox rows are
written in one transaction. With PostgreSQL, raising takes a transaction lock so that seqs
become visible in order (a reader tailing by seq never skips one).

Claiming a due delivery moves its `next_at` past the attempt's lease in the same
UPDATE, so two replicas never send one row at once; a crash mid-attempt leaves the row
due again once the lease is over (delivery is at least once: receivers dedupe on the id).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.catalog import alerts
from services.catalog.alerts import Alert
from services.shared.db import Database, Migration, Row
from services.shared.vocabulary import AlertKind

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
PRUNE_CHUNK = 1_000  # outbox rows deleted per statement
_RAISE_LOCK = 7_307_001  # pg_advisory_xact_lock key: alerts are raised one at a time

_TABLES = """
    CREATE TABLE catalog_alerts (
        seq {seq},
        id TEXT NOT NULL UNIQUE,
        at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX catalog_alerts_kind ON catalog_alerts (kind, seq);
    CREATE TABLE catalog_webhook_outbox (
        seq {seq},
        url TEXT NOT NULL,
        event TEXT NOT NULL,
        ref TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        done_at DOUBLE PRECISION,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX catalog_webhook_outbox_due ON catalog_webhook_outbox (state, next_at)
"""

MIGRATION = Migration(
    2,
    "alerts and the webhook outbox",
    "",
    sqlite=_TABLES.format(seq="INTEGER PRIMARY KEY AUTOINCREMENT"),
    postgresql=_TABLES.format(seq="BIGSERIAL PRIMARY KEY"),
)


@dataclass(frozen=True)
class Delivery:
    """One claimed outbox row: what to POST where, and which attempt this is."""

    seq: int
    url: str
    event: str
    ref: str
    body: str
    attempts: int


@dataclass(frozen=True)
class Notice:
    """A webhook body to enqueue for every URL: its event type, a reference (the alert id
    or the catalogue version) and the JSON text."""

    event: str
    ref: str
    body: str


class AlertStore:
    """Alerts and outbox rows over the catalog's `Database`."""

    def __init__(self, db: Database, retention: int = 10_000, queue_bound: int = 10_000) -> None:
        self.db = db
        self.retention = retention
        self.queue_bound = queue_bound

    # -- alerts ------------------------------------------------------------------------------

    async def raise_alert(
        self, alert: Alert, urls: Sequence[str], now: float
    ) -> tuple[Alert, bool]:
        """Store `alert` and enqueue it for `urls`; return it with its seq, and whether it
        was new (False: an alert with its id was stored before, and is returned instead)."""
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":
                await tx.execute("SELECT pg_advisory_xact_lock($1)", _RAISE_LOCK)
            rows = await tx.fetch("SELECT seq, body FROM catalog_alerts WHERE id = $1", alert.id)
            if rows:
                return _alert(rows[0]), False
            seq = int(
                await tx.fetchval(
                    "INSERT INTO catalog_alerts (id, at, kind, body) VALUES ($1, $2, $3, $4)"
                    " RETURNING seq",
                    alert.id,
                    alert.at,
                    alert.kind.api_name,
                    alerts.dumps(alert),
                )
            )
            stored = _with_seq(alert, seq)
            await tx.execute(
                "UPDATE catalog_alerts SET body = $1 WHERE seq = $2", alerts.dumps(stored), seq
            )
            await _enqueue(tx, Notice("freeway.alert", alert.id, alerts.dumps(stored)), urls, now)
            await tx.execute("DELETE FROM catalog_alerts WHERE seq <= $1", seq - self.retention)
        return stored, True

    async def last_seq(self) -> int:
        return int(await self.db.fetchval("SELECT COALESCE(MAX(seq), 0) FROM catalog_alerts"))

    async def after(self, seq: int, limit: int = 100) -> list[Alert]:
        """Alerts after `seq`, oldest first."""
        rows = await self.db.fetch(
            "SELECT seq, body FROM catalog_alerts WHERE seq > $1 ORDER BY seq LIMIT $2",
            seq,
            limit,
        )
        return [_alert(r) for r in rows]

    async def recent(
        self, limit: int, kinds: Sequence[AlertKind] = (), before: int = 0
    ) -> list[Alert]:
        """Newest first, at most `limit`, of `kinds` (all when empty), older than `before`."""
        sql = "SELECT seq, body FROM catalog_alerts WHERE seq < $1"
        args: list[Any] = [before or 2**62]
        if kinds:
            marks = ", ".join(f"${i + 2}" for i in range(len(kinds)))
            sql += f" AND kind IN ({marks})"
            args.extend(k.api_name for k in kinds)
        sql += f" ORDER BY seq DESC LIMIT ${len(args) + 1}"
        rows = await self.db.fetch(sql, *args, limit)
        return [_alert(r) for r in rows]

    # -- the outbox ----------------------------------------------------------------------------

    async def enqueue(self, notice: Notice, urls: Sequence[str], now: float) -> None:
        async with self.db.transaction() as tx:
            await _enqueue(tx, notice, urls, now)
        await self._bound(urls, now)

    async def claim(self, now: float, lease_s: float, limit: int = 16) -> list[Delivery]:
        """Take up to `limit` due deliveries for one attempt each (see the module's note)."""
        rows = await self.db.fetch(
            "UPDATE catalog_webhook_outbox SET next_at = $1, attempts = attempts + 1"
            " WHERE state = 'pending' AND next_at <= $2 AND seq IN (SELECT seq FROM"
            " catalog_webhook_outbox WHERE state = 'pending' AND next_at <= $2"
            " ORDER BY next_at, seq LIMIT $3)"
            " RETURNING seq, url, event, ref, body, attempts",
            now + lease_s,
            now,
            limit,
        )
        return sorted((_delivery(r) for r in rows), key=lambda d: d.seq)

    async def delivered(self, seq: int, now: float) -> None:
        await self.db.execute(
            "UPDATE catalog_webhook_outbox SET state = 'delivered', done_at = $1,"
            " last_error = '' WHERE seq = $2",
            now,
            seq,
        )

    async def retry_at(self, seq: int, when: float, error: str) -> None:
        await self.db.execute(
            "UPDATE catalog_webhook_outbox SET next_at = $1, last_error = $2 WHERE seq = $3",
            when,
            error[:500],
            seq,
        )

    async def dead(self, seq: int, now: float, error: str) -> None:
        await self.db.execute(
            "UPDATE catalog_webhook_outbox SET state = 'dead', done_at = $1, last_error = $2"
            " WHERE seq = $3",
            now,
            error[:500],
            seq,
        )

    async def next_due(self) -> float | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        value = await self.db.fetchval(
            "SELECT MIN(next_at) FROM catalog_webhook_outbox WHERE state = 'pending'"
        )
        return None if value is None else float(value)

    async def counts(self) -> dict[str, int]:
        """Outbox rows by state (pending, delivered, dead)."""
        rows = await self.db.fetch(
            "SELECT state, COUNT(*) AS n FROM catalog_webhook_outbox GROUP BY state"
        )
        found = {r["state"]: int(r["n"]) for r in rows}
        return {state: found.get(state, 0) for state in (PENDING, DELIVERED, DEAD)}

    async def prune_outbox(self, before: float) -> int:
        """Delete delivered and dead rows done before `before` (never a pending one), in
        chunks so that no delete holds the table for long; how many went."""
        total = 0
        while True:
            deleted = await self.db.fetch(
                "DELETE FROM catalog_webhook_outbox WHERE seq IN (SELECT seq FROM"
                " catalog_webhook_outbox WHERE state <> 'pending' AND done_at < $1"
                " ORDER BY seq LIMIT $2) RETURNING seq",
                before,
                PRUNE_CHUNK,
            )
            total += len(deleted)
            if len(deleted) < PRUNE_CHUNK:
                return total

    async def outbox(self) -> list[Row]:
        """Every outbox row but its body, oldest first (for tests and the CLI)."""
        return await self.db.fetch(
            "SELECT seq, url, event, ref, state, attempts, next_at, last_error"
            " FROM catalog_webhook_outbox ORDER BY seq"
        )

    async def _bound(self, urls: Sequence[str], now: float) -> None:
        """Keep at most `queue_bound` pending rows per URL: the oldest beyond it are given up."""
        for url in urls:
            rows = await self.db.fetch(
                "SELECT seq FROM catalog_webhook_outbox WHERE state = 'pending' AND url = $1"
                " ORDER BY seq DESC LIMIT 1 OFFSET $2",
                url,
                self.queue_bound,
            )
            if rows:
                await self.db.execute(
                    "UPDATE catalog_webhook_outbox SET state = 'dead', done_at = $1,"
                    " last_error = 'dropped: the queue for this URL is full'"
                    " WHERE state = 'pending' AND url = $2 AND seq <= $3",
                    now,
                    url,
                    int(rows[0]["seq"]),
                )


async def _enqueue(tx: Any, notice: Notice, urls: Sequence[str], now: float) -> None:
    if not urls:
        return
    await tx.executemany(
        "INSERT INTO catalog_webhook_outbox (url, event, ref, body, state, attempts, next_at,"
        " created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        [(url, notice.event, notice.ref, notice.body, now) for url in urls],
    )


def _with_seq(alert: Alert, seq: int) -> Alert:
    return dataclasses.replace(alert, seq=seq)


def _alert(row: Row) -> Alert:
    return alerts.from_json(json.loads(row["body"]), int(row["seq"]))


def _delivery(row: Row) -> Delivery:
    return Delivery(
        int(row["seq"]), row["url"], row["event"], row["ref"], row["body"], int(row["attempts"])
    )
