"""The key store on `services.shared.db` (SQLite embedded, PostgreSQL in production).

Tables: `edge_keys` (one row per key: its digest, never the key), `edge_teams`,
`edge_audit` (every admin action: who, when, what) and `edge_keys_state` (a version that
every change moves, in the same transaction, so each edge replica sees that something
changed with one tiny query and reloads: see `keysync`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from services.edge import accounts
from services.edge.accounts import ApiKey, Team
from services.shared.db import Database, Migration, Row, migrate
from services.shared.errors import AlreadyExists, NotFound

SERVICE = "edge"
SQLITE_FILE = "edge.sqlite3"

_SCHEMA = """
CREATE TABLE edge_teams (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, limits TEXT NOT NULL,
    budgets TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE edge_keys (
    id TEXT PRIMARY KEY, prefix TEXT NOT NULL, digest TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL, team_id TEXT NOT NULL, role TEXT NOT NULL,
    scopes TEXT NOT NULL, limits TEXT NOT NULL, budgets TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, created_by TEXT NOT NULL,
    expires_at DOUBLE PRECISION, revoked_at DOUBLE PRECISION
);
CREATE INDEX edge_keys_team ON edge_keys (team_id);
CREATE TABLE edge_audit (
    id {serial}, at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, details TEXT NOT NULL
);
CREATE TABLE edge_keys_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL
);
INSERT INTO edge_keys_state (id, version) VALUES (1, 0)
"""

MIGRATIONS = (
    Migration(
        1,
        "keys, teams, audit",
        sql="",
        sqlite=_SCHEMA.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
        postgresql=_SCHEMA.format(serial="BIGSERIAL PRIMARY KEY"),
    ),
)

_KEY_COLUMNS = (
    "id, prefix, digest, name, team_id, role, scopes, limits, budgets,"
    " created_at, created_by, expires_at, revoked_at"
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    target: str
    details: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": dict(self.details),
        }


class KeyStore:
    """Keys, teams and the audit log over a shared `Database`. Every write is one
    transaction with its audit entry and a version bump."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def migrate(self) -> None:
        await migrate(self.db, SERVICE, MIGRATIONS)

    async def version(self) -> int:
        return int(await self.db.fetchval("SELECT version FROM edge_keys_state WHERE id = 1"))

    # ------------------------------------------------------------------ reads

    async def keys(self, *, include_revoked: bool = True, team: str = "") -> list[ApiKey]:
        sql = f"SELECT {_KEY_COLUMNS} FROM edge_keys"
        where, args = [], []
        if not include_revoked:
            where.append("revoked_at IS NULL")
        if team:
            args.append(team)
            where.append(f"team_id = ${len(args)}")
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_key(r) for r in await self.db.fetch(sql + " ORDER BY created_at, id", *args)]

    async def key(self, key_id: str) -> ApiKey:
        rows = await self.db.fetch(f"SELECT {_KEY_COLUMNS} FROM edge_keys WHERE id = $1", key_id)
        if not rows:
            raise NotFound(f"no key {key_id!r}", field="id")
        return _key(rows[0])

    async def teams(self) -> list[Team]:
        rows = await self.db.fetch("SELECT * FROM edge_teams ORDER BY id")
        return [_team(r) for r in rows]

    async def team(self, team_id: str) -> Team:
        rows = await self.db.fetch("SELECT * FROM edge_teams WHERE id = $1", team_id)
        if not rows:
            raise NotFound(f"no team {team_id!r}", field="id")
        return _team(rows[0])

    async def audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """The newest entries first (older than id `before` when given)."""
        if before is None:
            rows = await self.db.fetch("SELECT * FROM edge_audit ORDER BY id DESC LIMIT $1", limit)
        else:
            rows = await self.db.fetch(
                "SELECT * FROM edge_audit WHERE id < $1 ORDER BY id DESC LIMIT $2", before, limit
            )
        return [
            AuditEntry(
                int(r["id"]),
                r["at"],
                r["actor"],
                r["action"],
                r["target"],
                orjson.loads(r["details"]),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ writes

    async def create_key(self, key: ApiKey, actor: str) -> ApiKey:
        key = replace(key, created_at=self.clock(), created_by=actor)
        async with self.db.transaction() as tx:
            await _ensure_team(tx, key.team_id, key.created_at)
            if await tx.fetch("SELECT id FROM edge_keys WHERE id = $1", key.id):
                raise AlreadyExists(f"a key {key.id!r} exists", field="id")
            await tx.execute(
                f"INSERT INTO edge_keys ({_KEY_COLUMNS}) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                *_key_row(key),
            )
            await self._changed(tx, actor, "key.created", key.id, _shown(key))
        return key

    async def update_key(
        self, key_id: str, change: Callable[[ApiKey], ApiKey], actor: str, action: str
    ) -> ApiKey:
        """Apply `change` to the stored key and record `action` with what changed."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch(f"SELECT {_KEY_COLUMNS} FROM edge_keys WHERE id = $1", key_id)
            if not rows:
                raise NotFound(f"no key {key_id!r}", field="id")
            old = _key(rows[0])
            new = change(old)
            await _ensure_team(tx, new.team_id, self.clock())
            row = _key_row(new)
            await tx.execute(
                "UPDATE edge_keys SET prefix = $2, digest = $3, name = $4, team_id = $5,"
                " role = $6, scopes = $7, limits = $8, budgets = $9, expires_at = $10,"
                " revoked_at = $11 WHERE id = $1",
                *row[:9],
                *row[11:],
            )
            await self._changed(tx, actor, action, key_id, _difference(_shown(old), _shown(new)))
        return new

    async def revoke_key(self, key_id: str, actor: str) -> ApiKey:
        now = self.clock()
        return await self.update_key(
            key_id,
            lambda k: k if k.revoked_at else replace(k, revoked_at=now),
            actor,
            "key.revoked",
        )

    async def rotate_key(self, key_id: str, secret: str, actor: str) -> ApiKey:
        """A new secret for the same key (same settings); the old one stops working."""

        def rotated(key: ApiKey) -> ApiKey:
            if key.revoked_at is not None:
                raise NotFound(f"key {key_id!r} is revoked", field="id")
            return replace(
                key, prefix=secret[: accounts.SHOWN_CHARS], digest=accounts.key_digest(secret)
            )

        return await self.update_key(key_id, rotated, actor, "key.rotated")

    async def put_team(self, team: Team, actor: str) -> Team:
        """Create the team, or replace its name, limits and budgets."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch("SELECT * FROM edge_teams WHERE id = $1", team.id)
            old = _team(rows[0]) if rows else None
            team = replace(team, created_at=old.created_at if old else self.clock())
            if old is None:
                await tx.execute(
                    "INSERT INTO edge_teams (id, name, limits, budgets, created_at)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    *_team_row(team),
                )
                details = team.to_json()
            else:
                await tx.execute(
                    "UPDATE edge_teams SET name = $2, limits = $3, budgets = $4 WHERE id = $1",
                    *_team_row(team)[:4],
                )
                details = _difference(old.to_json(), team.to_json())
            action = "team.created" if old is None else "team.updated"
            await self._changed(tx, actor, action, team.id, details)
        return team

    async def _changed(
        self, tx: Any, actor: str, action: str, target: str, details: Mapping[str, Any]
    ) -> None:
        await tx.execute(
            "INSERT INTO edge_audit (at, actor, action, target, details)"
            " VALUES ($1, $2, $3, $4, $5)",
            self.clock(),
            actor,
            action,
            target,
            orjson.dumps(dict(details)).decode(),
        )
        await tx.execute("UPDATE edge_keys_state SET version = version + 1 WHERE id = 1")


async def _ensure_team(tx: Any, team_id: str, now: float) -> None:
    """A key's team exists (with no limits of its own) from the key's creation on."""
    await tx.execute(
        "INSERT INTO edge_teams (id, name, limits, budgets, created_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        *_team_row(Team(team_id, created_at=now)),
    )


def _shown(key: ApiKey) -> dict[str, Any]:
    return key.to_json()


def _difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that changed, each as {"old": …, "new": …}."""
    return {k: {"old": old.get(k), "new": v} for k, v in new.items() if old.get(k) != v}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _key_row(key: ApiKey) -> tuple[Any, ...]:
    return (
        key.id,
        key.prefix,
        key.digest,
        key.name,
        key.team_id,
        key.role,
        _json(key.scopes.to_json()),
        _json(key.limits.to_json()),
        _json(key.budgets.to_json()),
        key.created_at,
        key.created_by,
        key.expires_at,
        key.revoked_at,
    )


def _key(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        prefix=row["prefix"],
        digest=row["digest"],
        name=row["name"],
        team_id=row["team_id"],
        role=row["role"],
        scopes=accounts.scopes(orjson.loads(row["scopes"])),
        limits=accounts.limits(orjson.loads(row["limits"])),
        budgets=accounts.budgets(orjson.loads(row["budgets"])),
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


def _team_row(team: Team) -> tuple[Any, ...]:
    return (
        team.id,
        team.name,
        _json(team.limits.to_json()),
        _json(team.budgets.to_json()),
        team.created_at,
    )


def _team(row: Row) -> Team:
    return Team(
        id=row["id"],
        name=row["name"],
        limits=accounts.limits(orjson.loads(row["limits"])),
        budgets=accounts.budgets(orjson.loads(row["budgets"])),
        created_at=row["created_at"],
    )
