"""The durable catalogue on `services.shared.db` (SQLite or PostgreSQL, same SQL).

Tables: `catalog_models` (current entries, with their miss counts), `catalog_history`
(one row per change, keyed by the version it produced), `catalog_state` (the current
version) and `catalog_providers` (polling status and HTTP validators). A commit assigns
consecutive versions inside one transaction and fails if another writer moved the version
meanwhile, so two pollers can never interleave their changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.catalog import alert_store, serial
from services.catalog.catalogue import ChangeType, Entry, VersionedChange
from services.catalog.delta import Change
from services.catalog.status import ProviderState
from services.catalog.tracking import Plan
from services.shared.db import Database, Migration, Row, migrate

SERVICE = "catalog"
NOTIFY_CHANNEL = "freeway_catalog"

MIGRATIONS = [
    Migration(
        1,
        "catalogue, history, state, providers",
        """
        CREATE TABLE catalog_models (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            record TEXT NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            misses INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX catalog_models_provider ON catalog_models (provider);
        CREATE TABLE catalog_history (
            version BIGINT PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL,
            change_type TEXT NOT NULL,
            model_id TEXT NOT NULL,
            old TEXT,
            new TEXT,
            changed_fields TEXT NOT NULL
        );
        CREATE TABLE catalog_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version BIGINT NOT NULL
        );
        INSERT INTO catalog_state (id, version) VALUES (1, 0);
        CREATE TABLE catalog_providers (
            name TEXT PRIMARY KEY,
            format TEXT NOT NULL,
            base_url TEXT NOT NULL,
            healthy INTEGER NOT NULL,
            last_success DOUBLE PRECISION,
            last_error TEXT NOT NULL,
            next_poll DOUBLE PRECISION,
            model_count BIGINT NOT NULL,
            free_count BIGINT NOT NULL,
            etag TEXT NOT NULL,
            last_modified TEXT NOT NULL
        )
        """,
    ),
    alert_store.MIGRATION,
]


class StaleVersion(RuntimeError):
    """Another writer committed since this one read the catalogue."""

    def __init__(self, expected: int, found: int) -> None:
        super().__init__(f"catalogue version is {found}, expected {expected}")
        self.found = found


@dataclass(frozen=True)
class Loaded:
    """Everything a replica needs to serve: the version, the entries with their miss
    counts, and the retained history."""

    version: int
    entries: list[Entry]
    misses: dict[str, int]
    history: list[VersionedChange]


class CatalogStore:
    """Catalogue persistence over a shared `Database`."""

    def __init__(self, db: Database, retention: int = 10_000) -> None:
        self.db = db
        self.retention = retention

    async def migrate(self) -> None:
        await migrate(self.db, SERVICE, MIGRATIONS)

    async def version(self) -> int:
        return int(await self.db.fetchval("SELECT version FROM catalog_state WHERE id = 1"))

    async def load(self) -> Loaded:
        """A consistent read of the whole catalogue and its retained history."""
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":
                await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            version = int(await tx.fetchval("SELECT version FROM catalog_state WHERE id = 1"))
            rows = await tx.fetch(
                "SELECT id, record, first_seen, last_seen, misses FROM catalog_models"
            )
            history = await tx.fetch(
                "SELECT * FROM catalog_history WHERE version <= $1 ORDER BY version", version
            )
        entries = [_entry(r) for r in rows]
        misses = {r["id"]: int(r["misses"]) for r in rows if r["misses"]}
        return Loaded(version, entries, misses, [_change(r) for r in history])

    async def history_since(self, version: int, limit: int = 10_000) -> list[VersionedChange]:
        """Changes after `version`, in order (at most `limit`)."""
        rows = await self.db.fetch(
            "SELECT * FROM catalog_history WHERE version > $1 ORDER BY version LIMIT $2",
            version,
            limit,
        )
        return [_change(r) for r in rows]

    async def commit(
        self, base_version: int, plan: Plan, at: float, first_seen: Mapping[str, float]
    ) -> list[VersionedChange]:
        """Store a poll's plan; return its changes stamped with consecutive versions.
        `first_seen` holds when the models already in the catalogue were first seen."""
        async with self.db.transaction() as tx:
            lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
            found = int(await tx.fetchval(f"SELECT version FROM catalog_state WHERE id = 1{lock}"))
            if found != base_version:
                raise StaleVersion(base_version, found)
            changes = [
                _stamp(base_version + i + 1, at, c, first_seen.get(c.model_id, at))
                for i, c in enumerate(plan.changes)
            ]
            await _write_changes(tx, changes)
            if plan.seen:
                await tx.executemany(
                    "UPDATE catalog_models SET last_seen = $1, misses = 0 WHERE id = $2",
                    [(at, i) for i in plan.seen],
                )
            if plan.misses:
                await tx.executemany(
                    "UPDATE catalog_models SET misses = $1 WHERE id = $2",
                    [(n, i) for i, n in plan.misses.items()],
                )
            if changes:
                await self._bump(tx, changes[-1].version)
        return changes

    async def _bump(self, tx: Any, version: int) -> None:
        await tx.execute("UPDATE catalog_state SET version = $1 WHERE id = 1", version)
        await tx.execute(
            "DELETE FROM catalog_history WHERE version <= $1", version - self.retention
        )
        if self.db.dialect == "postgresql":
            await tx.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(version))

    # -- provider status -------------------------------------------------------------------

    async def save_provider(self, state: ProviderState) -> None:
        await self.db.execute(
            "INSERT INTO catalog_providers (name, format, base_url, healthy, last_success,"
            " last_error, next_poll, model_count, free_count, etag, last_modified)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (name) DO UPDATE SET format = excluded.format,"
            " base_url = excluded.base_url, healthy = excluded.healthy,"
            " last_success = excluded.last_success, last_error = excluded.last_error,"
            " next_poll = excluded.next_poll, model_count = excluded.model_count,"
            " free_count = excluded.free_count, etag = excluded.etag,"
            " last_modified = excluded.last_modified",
            state.name,
            state.format,
            state.base_url,
            int(state.healthy),
            state.last_success,
            state.last_error,
            state.next_poll,
            state.model_count,
            state.free_count,
            state.etag,
            state.last_modified,
        )

    async def providers(self) -> dict[str, ProviderState]:
        rows = await self.db.fetch("SELECT * FROM catalog_providers ORDER BY name")
        return {r["name"]: _provider(r) for r in rows}


def _stamp(version: int, at: float, change: Change, first_seen: float) -> VersionedChange:
    old = change.old
    new = change.new
    return VersionedChange(
        version=version,
        at=at,
        type=change.type,
        model_id=change.model_id,
        old=None if old is None else Entry(old, first_seen, at),
        new=None if new is None else Entry(new, first_seen, at),
        changed_fields=change.changed_fields,
    )


async def _write_changes(tx: Any, changes: Sequence[VersionedChange]) -> None:
    if not changes:
        return
    await tx.executemany(
        "INSERT INTO catalog_history (version, at, change_type, model_id, old, new,"
        " changed_fields) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                c.version,
                c.at,
                c.type.value,
                c.model_id,
                _entry_json(c.old),
                _entry_json(c.new),
                json.dumps(list(c.changed_fields)),
            )
            for c in changes
        ],
    )
    upserts = [c.new for c in changes if c.new is not None]
    if upserts:
        await tx.executemany(
            "INSERT INTO catalog_models (id, provider, record, first_seen, last_seen, misses)"
            " VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (id) DO UPDATE SET"
            " provider = excluded.provider, record = excluded.record,"
            " last_seen = excluded.last_seen, misses = 0",
            [
                (e.id, e.record.provider, serial.dumps(e.record), e.first_seen, e.last_seen)
                for e in upserts
            ],
        )
    removed = [(c.model_id,) for c in changes if c.new is None]
    if removed:
        await tx.executemany("DELETE FROM catalog_models WHERE id = $1", removed)


def _entry_json(entry: Entry | None) -> str | None:
    if entry is None:
        return None
    return json.dumps(
        {
            "record": serial.record_to_dict(entry.record),
            "first_seen": entry.first_seen,
            "last_seen": entry.last_seen,
        },
        separators=(",", ":"),
    )


def _entry_from_json(text: str | None) -> Entry | None:
    if text is None:
        return None
    data = json.loads(text)
    return Entry(
        serial.record_from_dict(data["record"]), float(data["first_seen"]), float(data["last_seen"])
    )


def _entry(row: Row) -> Entry:
    record = serial.loads(row["record"])
    assert record is not None
    return Entry(record, float(row["first_seen"]), float(row["last_seen"]))


def _change(row: Row) -> VersionedChange:
    return VersionedChange(
        version=int(row["version"]),
        at=float(row["at"]),
        type=ChangeType(row["change_type"]),
        model_id=row["model_id"],
        old=_entry_from_json(row["old"]),
        new=_entry_from_json(row["new"]),
        changed_fields=tuple(json.loads(row["changed_fields"])),
    )


def _provider(row: Row) -> ProviderState:
    return ProviderState(
        name=row["name"],
        format=row["format"],
        base_url=row["base_url"],
        healthy=bool(row["healthy"]),
        last_success=None if row["last_success"] is None else float(row["last_success"]),
        last_error=row["last_error"],
        next_poll=None if row["next_poll"] is None else float(row["next_poll"]),
        model_count=int(row["model_count"]),
        free_count=int(row["free_count"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
    )
